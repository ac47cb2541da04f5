// Makes many crypto_box_keypair calls from many threads in several processes, for the key
// logger's concurrency and error tests. Every keypair is checked (result 0, public key of the
// secret), and its public key is appended to --publics FILE so a verifier can match the log.
//
//   keylog_keypair_stress [--threads N] [--keys N] [--forks N] [--publics FILE] [--decoy FILE]
//
// The parent makes one keypair before forking, so forked children inherit an open key log and
// must still write a header of their own. With --decoy, each child first closes every
// descriptor it inherited (as daemons do) and opens FILE, which then gets the number the key
// log had: nothing may be written to it.
#include <fcntl.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
    int threads = 8;
    int keys = 100;
    int forks = 2;
    std::string publics;
    std::string decoy;
};

std::atomic<int> failures{0};
int publics_fd = -1;

void record_public(const unsigned char* pk) {
    if (publics_fd < 0) return;
    static const char digits[] = "0123456789abcdef";
    char line[65];
    for (int i = 0; i < 32; ++i) {
        line[2 * i] = digits[pk[i] >> 4];
        line[2 * i + 1] = digits[pk[i] & 15];
    }
    line[64] = '\n';
    if (write(publics_fd, line, sizeof line) != static_cast<ssize_t>(sizeof line)) ++failures;
}

void make_keypair() {
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES], derived[32];
    errno = 0;
    if (crypto_box_keypair(pk, sk) != 0 || crypto_scalarmult_base(derived, sk) != 0 ||
        std::memcmp(derived, pk, sizeof pk) != 0) {
        ++failures;
        return;
    }
    record_public(pk);
}

void make_keypairs_in_threads(const Options& options) {
    std::vector<std::thread> threads;
    for (int t = 0; t < options.threads; ++t)
        threads.emplace_back([&] {
            for (int k = 0; k < options.keys; ++k) make_keypair();
        });
    for (auto& thread : threads) thread.join();
}

void close_inherited_descriptors_and_open_decoy(const std::string& decoy) {
    for (int fd = 3; fd < 1024; ++fd)
        if (fd != publics_fd) close(fd);
    if (open(decoy.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) < 0) ++failures;
}

bool wait_for_children(const std::vector<pid_t>& children) {
    bool ok = true;
    for (pid_t child : children) {
        int status = 0;
        ok &= waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return ok;
}

Options parse_arguments(int argc, char** argv) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string arg = argv[i];
        if (arg == "--threads") options.threads = std::atoi(argv[i + 1]);
        if (arg == "--keys") options.keys = std::atoi(argv[i + 1]);
        if (arg == "--forks") options.forks = std::atoi(argv[i + 1]);
        if (arg == "--publics") options.publics = argv[i + 1];
        if (arg == "--decoy") options.decoy = argv[i + 1];
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_arguments(argc, argv);
    if (sodium_init() < 0) return 1;
    if (!options.publics.empty()) {
        publics_fd = open(options.publics.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (publics_fd < 0) return 1;
    }
    make_keypair();
    std::vector<pid_t> children;
    for (int f = 0; f < options.forks; ++f) {
        pid_t child = fork();
        if (child == 0) {
            if (!options.decoy.empty()) close_inherited_descriptors_and_open_decoy(options.decoy);
            make_keypairs_in_threads(options);
            _exit(failures ? 1 : 0);
        }
        if (child > 0)
            children.push_back(child);
        else
            ++failures;
    }
    make_keypairs_in_threads(options);
    bool children_ok = wait_for_children(children);
    int made = 1 + (options.forks + 1) * options.threads * options.keys;
    std::printf("pid %d: %d keypairs in %d processes, %d failures\n", getpid(), made,
                options.forks + 1, failures.load());
    return failures == 0 && children_ok ? 0 : 1;
}
