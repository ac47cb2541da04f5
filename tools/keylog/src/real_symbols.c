#include "real_symbols.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>

#include "keylog_file.h"

static void* find_in_library(const char* name, const char* library) {
    void* handle = dlopen(library, RTLD_NOLOAD | RTLD_LAZY);
    return handle ? dlsym(handle, name) : NULL;  // the host keeps it loaded: keep the handle
}

#define MAX_SCANNED_OBJECTS 512

struct loaded_objects {
    const char* names[MAX_SCANNED_OBJECTS];
    size_t count;
};

static int collect_object(struct dl_phdr_info* info, size_t size, void* data) {
    (void)size;
    struct loaded_objects* objects = data;
    if (info->dlpi_name && info->dlpi_name[0] && objects->count < MAX_SCANNED_OBJECTS)
        objects->names[objects->count++] = info->dlpi_name;
    return 0;
}

/* Bundled copies (a pyzmq wheel's libzmq-<hash>.so) have another soname: look in the scope of
 * every loaded object. The names are collected first because dlopen must not run inside
 * dl_iterate_phdr. */
static void* find_in_loaded_objects(const char* name, void* self) {
    struct loaded_objects objects = {.count = 0};
    dl_iterate_phdr(collect_object, &objects);
    for (size_t i = 0; i < objects.count; ++i) {
        void* handle = dlopen(objects.names[i], RTLD_NOLOAD | RTLD_LAZY);
        if (!handle) continue;
        void* address = dlsym(handle, name);
        if (address && address != self) return address;
        dlclose(handle);
    }
    return NULL;
}

/* Python loads extension modules with RTLD_LOCAL, so the libsodium and libzmq they pull in are
 * not in the global scope and RTLD_NEXT misses them. */
static void* find_symbol(const char* name, const char* library, void* self) {
    void* address = dlsym(RTLD_NEXT, name);
    if (!address) address = find_in_library(name, library);
    if (!address) address = find_in_loaded_objects(name, self);
    return address;
}

void* real_symbol_address(struct real_symbol* symbol, void* self) {
    void* address = atomic_load(&symbol->address);
    if (address) return address;
    address = find_symbol(symbol->name, symbol->library, self);
    if (address) {
        atomic_store(&symbol->address, address);
    } else if (atomic_exchange(&symbol->reported_missing, 1) == 0) {
        keylog_complain(
            "cannot find the real %s (not in the global scope, %s or any loaded object)",
            symbol->name, symbol->library);
    }
    return address;
}
