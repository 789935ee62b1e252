/* A shared object without the entry symbol. */
int fake_nosym_something(void);
__attribute__((visibility("default"))) int fake_nosym_something(void)
{
	return 1;
}
