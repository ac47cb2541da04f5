#include "socket_keys.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <zmq.h>

#include "keylog_file.h"
#include "z85_key.h"

enum socket_role { ROLE_UNKNOWN, ROLE_CLIENT, ROLE_SERVER };

struct socket_keys {
    void* socket;  // NULL: free slot
    enum socket_role role;
    bool has_public;
    bool has_secret;
    unsigned char public_key[KEYLOG_KEY_SIZE];
    unsigned char secret_key[KEYLOG_KEY_SIZE];
};

/* A fixed table: no allocation inside the host program. A program with more CURVE sockets
 * open at once still gets every key logged, only with a guessed label. */
#define MAX_TRACKED_SOCKETS 1024
static struct socket_keys tracked[MAX_TRACKED_SOCKETS];
static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;

void socket_keys_lock(void) {
    pthread_mutex_lock(&tracked_lock);
}
void socket_keys_unlock(void) {
    pthread_mutex_unlock(&tracked_lock);
}

/* libzmq accepts 32 bytes, 40 Z85 characters, or 40 characters and a NUL. */
static bool key_from_option_value(const void* value, size_t size, unsigned char key[32]) {
    if (size == KEYLOG_KEY_SIZE) {
        memcpy(key, value, KEYLOG_KEY_SIZE);
        return true;
    }
    if (size == Z85_KEY_LENGTH || size == Z85_KEY_LENGTH + 1) return z85_decode_key(value, key);
    return false;
}

static struct socket_keys* find_socket(void* socket) {
    for (size_t i = 0; i < MAX_TRACKED_SOCKETS; ++i) {
        if (tracked[i].socket == socket) return &tracked[i];
    }
    return NULL;
}

static struct socket_keys* find_or_add_socket(void* socket) {
    struct socket_keys* entry = find_socket(socket);
    if (entry) return entry;
    entry = find_socket(NULL);
    if (entry) {
        memset(entry, 0, sizeof *entry);
        entry->socket = socket;
    }
    return entry;
}

static void log_role_key(enum socket_role role, bool secret, const unsigned char key[32]) {
    static const char* const labels[2][2] = {{"CLIENT_PUBLIC", "CLIENT_SECRET"},
                                             {"SERVER_PUBLIC", "SERVER_SECRET"}};
    keylog_write_key(labels[role == ROLE_SERVER][secret], key);
}

/* An unknown role is libzmq's default: a CURVE socket without ZMQ_CURVE_SERVER=1 is a client. */
static void flush_pending(struct socket_keys* entry) {
    if (entry->has_public) log_role_key(entry->role, false, entry->public_key);
    if (entry->has_secret) log_role_key(entry->role, true, entry->secret_key);
    entry->has_public = entry->has_secret = false;
    explicit_bzero(entry->public_key, sizeof entry->public_key);
    explicit_bzero(entry->secret_key, sizeof entry->secret_key);
}

static void set_role(void* socket, enum socket_role role) {
    struct socket_keys* entry = find_or_add_socket(socket);
    if (!entry) return;
    entry->role = role;
    flush_pending(entry);
}

static void own_key_set(void* socket, bool secret, const unsigned char key[32]) {
    struct socket_keys* entry = find_or_add_socket(socket);
    if (!entry || entry->role != ROLE_UNKNOWN) {
        log_role_key(entry ? entry->role : ROLE_UNKNOWN, secret, key);
        return;
    }
    if (secret) {
        memcpy(entry->secret_key, key, KEYLOG_KEY_SIZE);
        entry->has_secret = true;
    } else {
        memcpy(entry->public_key, key, KEYLOG_KEY_SIZE);
        entry->has_public = true;
    }
}

static void on_curve_key(void* socket, int option, const unsigned char key[32]) {
    if (option == ZMQ_CURVE_SERVERKEY) {
        keylog_write_key("SERVER_PUBLIC", key);
        set_role(socket, ROLE_CLIENT);  // as libzmq does: a socket given S is a client
    } else {
        own_key_set(socket, option == ZMQ_CURVE_SECRETKEY, key);
    }
}

void socket_keys_on_option(void* socket, int option, const void* value, size_t size) {
    if (!keylog_enabled() || !value) return;
    if (option == ZMQ_CURVE_SERVER) {
        int as_server;
        if (size != sizeof as_server) return;
        memcpy(&as_server, value, sizeof as_server);
        socket_keys_lock();
        set_role(socket, as_server ? ROLE_SERVER : ROLE_CLIENT);
        socket_keys_unlock();
        return;
    }
    if (option != ZMQ_CURVE_SERVERKEY && option != ZMQ_CURVE_PUBLICKEY &&
        option != ZMQ_CURVE_SECRETKEY)
        return;
    unsigned char key[KEYLOG_KEY_SIZE];
    if (key_from_option_value(value, size, key)) {
        socket_keys_lock();
        on_curve_key(socket, option, key);
        socket_keys_unlock();
    }
    explicit_bzero(key, sizeof key);
}

void socket_keys_on_endpoint(void* socket) {
    if (!socket) return;
    socket_keys_lock();
    struct socket_keys* entry = find_socket(socket);
    if (entry) flush_pending(entry);
    socket_keys_unlock();
}

void socket_keys_on_close(void* socket) {
    if (!socket) return;
    socket_keys_lock();
    struct socket_keys* entry = find_socket(socket);
    if (entry) {
        flush_pending(entry);
        memset(entry, 0, sizeof *entry);
    }
    socket_keys_unlock();
}
