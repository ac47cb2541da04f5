/* The key log file: opened once per process, one line per write(). */
#ifndef ZMTP_KEYLOG_FILE_H
#define ZMTP_KEYLOG_FILE_H

#include <stdbool.h>

#define KEYLOG_KEY_SIZE 32

/* True while keys should be collected: ZMTP_KEYLOG_FILE is set (and not empty) and the file
 * has not failed to open. */
bool keylog_enabled(void);

/* Appends "<label> <64 hex digits>\n". Never changes errno. */
void keylog_write_key(const char* label, const unsigned char key[KEYLOG_KEY_SIZE]);

/* Writes one line to stderr, prefixed with "zmtp-keylog: ". Never changes errno. */
void keylog_complain(const char* format, ...) __attribute__((format(printf, 1, 2)));

/* Locks every mutex of the library in a fixed order around fork(), so that a child never
 * inherits a mutex held by a thread that does not exist there. */
void keylog_register_fork_handlers(void);

#endif
