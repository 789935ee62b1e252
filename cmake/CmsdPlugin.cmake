# cmsd_add_plugin(NAME SOURCES src... [LIBS lib...] [NOINSTALL])
# Builds a plugin module NAME.so into the build tree's plugin directory and,
# unless NOINSTALL, installs it into the plugin directory.
#
# The install destination is relative to the prefix whenever the plugin
# directory lies under it, so that `cmake --install --prefix DIR` (the SDK
# test, packagers' staging) puts the plugins under DIR, next to the
# relocatable cmsd-plugin.pc whose plugindir points there, instead of into
# the configured absolute path.
# cmsd_install_dest(OUT DIR): DIR relative to the install prefix when it
# lies under it, else DIR itself.
function(cmsd_install_dest out dir)
  file(RELATIVE_PATH _rel "${CMAKE_INSTALL_PREFIX}" "${dir}")
  if(_rel MATCHES "^\\.\\." OR IS_ABSOLUTE "${_rel}")
    set(_rel "${dir}")
  endif()
  set(${out} "${_rel}" PARENT_SCOPE)
endfunction()

function(cmsd_add_plugin name)
  cmake_parse_arguments(P "NOINSTALL" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE cmsd_sdk ${P_LIBS})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY "${CMSD_BUILD_PLUGIN_DIR}")
  # Tests load plugins from the build tree: they depend on this list.
  set_property(GLOBAL APPEND PROPERTY CMSD_PLUGIN_TARGETS ${name})
  if(NOT P_NOINSTALL)
    cmsd_install_dest(_rel "${CMSD_PLUGIN_INSTALL_DIR}")
    install(TARGETS ${name} LIBRARY DESTINATION "${_rel}")
  endif()
endfunction()
