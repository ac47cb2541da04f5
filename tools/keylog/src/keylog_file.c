#include "keylog_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "socket_keys.h"

enum file_state { FILE_UNOPENED, FILE_OPEN, FILE_FAILED };

static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int file_state = FILE_UNOPENED;
static int file_fd = -1;
static dev_t file_device;
static ino_t file_inode;
static pid_t header_pid = 0;

static const char* keylog_path(void) {
    const char* path = getenv("ZMTP_KEYLOG_FILE");
    return (path && *path) ? path : NULL;
}

bool keylog_enabled(void) {
    int state = atomic_load(&file_state);
    if (state == FILE_FAILED) return false;
    return state == FILE_OPEN || keylog_path() != NULL;
}

void keylog_complain(const char* format, ...) {
    int saved_errno = errno;
    char message[1024];
    int prefix = snprintf(message, sizeof message, "zmtp-keylog: ");
    va_list args;
    va_start(args, format);
    int body = vsnprintf(message + prefix, sizeof message - (size_t)prefix - 1, format, args);
    va_end(args);
    size_t length = (size_t)prefix + (body < 0 ? 0 : (size_t)body);
    if (length > sizeof message - 2) length = sizeof message - 2;
    message[length++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, message, length);
    (void)ignored;
    errno = saved_errno;
}

static void complain_open_failure(const char* path, int error) {
    char reason[256];
    const char* text = strerror_r(error, reason, sizeof reason);
    if (error == ELOOP) {
        keylog_complain(
            "refusing to follow the symbolic link ZMTP_KEYLOG_FILE=%s; keys are not logged", path);
    } else if (error == ENXIO) {  // a FIFO nobody reads (opened with O_NONBLOCK)
        keylog_complain("ZMTP_KEYLOG_FILE=%s is not a regular file; keys are not logged", path);
    } else {
        keylog_complain("cannot open ZMTP_KEYLOG_FILE=%s: %s; keys are not logged", path, text);
    }
}

/* O_NONBLOCK keeps a FIFO without a reader from hanging the program; anything but a regular
 * file (a FIFO, a terminal, a device) is refused so keys never end up on a screen. */
static int open_keylog(const char* path) {
    int fd = open(
        path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd < 0) {
        complain_open_failure(path, errno);
        return -1;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        keylog_complain("ZMTP_KEYLOG_FILE=%s is not a regular file; keys are not logged", path);
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    file_device = info.st_dev;
    file_inode = info.st_ino;
    if (info.st_mode & (S_IRWXG | S_IRWXO)) {
        keylog_complain("warning: ZMTP_KEYLOG_FILE=%s can be read by other users (mode %03o)", path,
                        (unsigned)(info.st_mode & 0777));
    }
    return fd;
}

/* Programs that close every descriptor (daemons do) may reuse the number for a file of their
 * own: the descriptor is used only while it is still the key log. */
static bool still_the_key_log(void) {
    struct stat info;
    return fstat(file_fd, &info) == 0 && info.st_dev == file_device && info.st_ino == file_inode;
}

/* Called with file_lock held. Opens the file on the first key, and again when the program
 * closed the descriptor (the number is then not ours to close). */
static bool ensure_open(void) {
    int state = atomic_load(&file_state);
    if (state == FILE_FAILED) return false;
    if (state == FILE_OPEN && still_the_key_log()) return true;
    const char* path = keylog_path();
    if (!path) {
        atomic_store(&file_state, FILE_FAILED);
        return false;
    }
    file_fd = open_keylog(path);
    atomic_store(&file_state, file_fd >= 0 ? FILE_OPEN : FILE_FAILED);
    return file_fd >= 0;
}

static void write_line(const char* line, size_t length) {
    ssize_t written = write(file_fd, line, length);
    if (written == (ssize_t)length) return;
    static atomic_int complained = 0;
    if (atomic_exchange(&complained, 1) == 0) {
        char reason[256];
        const char* text = written < 0 ? strerror_r(errno, reason, sizeof reason) : "short write";
        keylog_complain("writing to ZMTP_KEYLOG_FILE failed: %s", text);
    }
}

/* A forked child keeps the descriptor but is a new process: it gets its own header. */
static void write_header_once_per_process(void) {
    pid_t pid = getpid();
    if (header_pid == pid) return;
    header_pid = pid;
    char header[64];
    int length = snprintf(header, sizeof header, "# zmtp keylog pid=%ld\n", (long)pid);
    write_line(header, (size_t)length);
}

static size_t format_key_line(char* line, const char* label, const unsigned char* key) {
    static const char digits[] = "0123456789abcdef";
    size_t length = strlen(label);
    memcpy(line, label, length);
    line[length++] = ' ';
    for (size_t i = 0; i < KEYLOG_KEY_SIZE; ++i) {
        line[length++] = digits[key[i] >> 4];
        line[length++] = digits[key[i] & 15];
    }
    line[length++] = '\n';
    return length;
}

void keylog_write_key(const char* label, const unsigned char key[KEYLOG_KEY_SIZE]) {
    int saved_errno = errno;
    keylog_register_fork_handlers();
    char line[64 + 2 * KEYLOG_KEY_SIZE];
    size_t length = format_key_line(line, label, key);
    pthread_mutex_lock(&file_lock);
    if (ensure_open()) {
        write_header_once_per_process();
        write_line(line, length);
    }
    pthread_mutex_unlock(&file_lock);
    explicit_bzero(line, sizeof line);
    errno = saved_errno;
}

static void lock_all(void) {
    socket_keys_lock();
    pthread_mutex_lock(&file_lock);
}

static void unlock_all(void) {
    pthread_mutex_unlock(&file_lock);
    socket_keys_unlock();
}

static void register_handlers(void) {
    pthread_atfork(lock_all, unlock_all, unlock_all);
}

void keylog_register_fork_handlers(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_handlers);
}
