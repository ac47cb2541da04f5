/* Loads a library privately (RTLD_LOCAL, as Python loads extension modules) and runs its calls.
 *   keylog_private_loader CONSUMER.so */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: keylog_private_loader CONSUMER.so\n");
        return 2;
    }
    void* consumer = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!consumer) {
        fprintf(stderr, "keylog_private_loader: %s\n", dlerror());
        return 1;
    }
    int (*calls)(void) = (int (*)(void))dlsym(consumer, "keylog_private_calls");
    int failures = calls ? calls() : 1;
    printf("private library calls: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
