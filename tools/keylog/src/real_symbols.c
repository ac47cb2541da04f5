#include "real_symbols.h"

#include <dlfcn.h>
#include <stddef.h>

#include "keylog_file.h"

/* Python loads extension modules with RTLD_LOCAL, so the libsodium and libzmq they pull in are
 * not in the global scope and RTLD_NEXT misses them; the library that is already loaded is
 * found by its soname instead. The handle is kept: the host never unloads it anyway. */
static void* find_symbol(const char* name, const char* library) {
    void* address = dlsym(RTLD_NEXT, name);
    if (address) return address;
    void* handle = dlopen(library, RTLD_NOLOAD | RTLD_LAZY);
    return handle ? dlsym(handle, name) : NULL;
}

void* real_symbol_address(struct real_symbol* symbol) {
    void* address = atomic_load(&symbol->address);
    if (address) return address;
    address = find_symbol(symbol->name, symbol->library);
    if (address) {
        atomic_store(&symbol->address, address);
    } else if (atomic_exchange(&symbol->reported_missing, 1) == 0) {
        keylog_complain("cannot find the real %s (looked in the global scope and in %s)",
                        symbol->name, symbol->library);
    }
    return address;
}
