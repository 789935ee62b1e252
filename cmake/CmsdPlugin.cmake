# cmsd_add_plugin(NAME SOURCES src... [LIBS lib...] [NOINSTALL])
# Builds a plugin module NAME.so into the build tree's plugin directory and,
# unless NOINSTALL, installs it into the plugin directory.
function(cmsd_add_plugin name)
  cmake_parse_arguments(P "NOINSTALL" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE cmsd_sdk ${P_LIBS})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY "${CMSD_BUILD_PLUGIN_DIR}")
  if(NOT P_NOINSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMSD_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
