/* The real functions behind the ones this library interposes. */
#ifndef ZMTP_KEYLOG_REAL_SYMBOLS_H
#define ZMTP_KEYLOG_REAL_SYMBOLS_H

#include <stdatomic.h>

struct real_symbol {
    const char* name;
    const char* library;  // soname to look in when the symbol is not in the global scope
    _Atomic(void*) address;
    atomic_int reported_missing;
};

#define REAL_SYMBOL(symbol_name, library_soname) \
    { .name = symbol_name, .library = library_soname, .address = NULL, .reported_missing = 0 }

/* The address of the real function (never `self`, the interposer), or NULL (said once on
 * stderr) when it cannot be found. */
void* real_symbol_address(struct real_symbol* symbol, void* self);

#endif
