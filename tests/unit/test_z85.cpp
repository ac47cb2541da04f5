// Z85 and hex key encodings, checked against RFC 32, the libzmq documentation keys and the
// installed libzmq itself.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "zmtp/z85.hpp"

using namespace zmtp;

namespace {

struct DocKey {
    const char* z85;
    const char* hex;
};
// doc/zmq_curve.txt (docs/protocol.md section 7).
constexpr DocKey client_public{"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                               "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518"};
constexpr DocKey client_secret{"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
                               "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888"};
constexpr DocKey server_public{"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                               "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652"};
constexpr DocKey server_secret{"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
                               "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7"};
constexpr DocKey doc_keys[] = {client_public, client_secret, server_public, server_secret};

Key key_from_hex(std::string_view hex) {
    const auto key = parse_key(hex);
    REQUIRE(key);
    return *key;
}

std::string lower(std::string text) {
    for (char& c : text) c = char(std::tolower(uint8_t(c)));
    return text;
}

// The installed libzmq, loaded at run time so the unit tests need not link it.
struct LibZmq {
    using Z85Decode = uint8_t* (*)(uint8_t*, const char*);
    using Z85Encode = char* (*)(char*, const uint8_t*, size_t);
    using CurveKeypair = int (*)(char*, char*);

    LibZmq() : handle(dlopen("libzmq.so.5", RTLD_NOW | RTLD_LOCAL)) {
        if (!handle) return;
        decode = reinterpret_cast<Z85Decode>(dlsym(handle, "zmq_z85_decode"));
        encode = reinterpret_cast<Z85Encode>(dlsym(handle, "zmq_z85_encode"));
        keypair = reinterpret_cast<CurveKeypair>(dlsym(handle, "zmq_curve_keypair"));
    }
    ~LibZmq() {
        if (handle) dlclose(handle);
    }
    bool ready() const { return decode && encode && keypair; }

    void* handle;
    Z85Decode decode = nullptr;
    Z85Encode encode = nullptr;
    CurveKeypair keypair = nullptr;
};

}  // namespace

TEST_CASE("Z85 RFC 32 test vector", "[z85]") {
    const std::vector<uint8_t> bytes{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
    CHECK(z85_encode(bytes) == std::optional<std::string>("HelloWorld"));
    CHECK(z85_decode("HelloWorld") == std::optional(bytes));
}

TEST_CASE("Z85 libzmq documentation keys", "[z85]") {
    for (const DocKey& doc : doc_keys) {
        INFO(doc.z85);
        const auto from_z85 = parse_key(doc.z85);
        REQUIRE(from_z85);
        CHECK(to_hex(*from_z85) == lower(doc.hex));
        CHECK(parse_key(doc.hex) == from_z85);
        CHECK(parse_key(lower(doc.hex)) == from_z85);
        CHECK(z85_encode(*from_z85) == std::optional<std::string>(doc.z85));
        const auto decoded = z85_decode(doc.z85);
        REQUIRE(decoded);
        CHECK(std::equal(decoded->begin(), decoded->end(), from_z85->begin(), from_z85->end()));
    }
    CHECK(public_key_of(key_from_hex(client_secret.hex)) == key_from_hex(client_public.hex));
    CHECK(public_key_of(key_from_hex(server_secret.hex)) == key_from_hex(server_public.hex));
}

TEST_CASE("Z85 decoding rejects bad lengths", "[z85]") {
    for (const char* text : {"", "Hell", "HelloW", "HelloWorl", "HelloWorld!"}) {
        INFO(text);
        CHECK_FALSE(z85_decode(text));
    }
}

TEST_CASE("Z85 decoding rejects characters outside the alphabet", "[z85]") {
    for (const char bad :
         {' ', '"', '\'', ',', ';', '\\', '_', '`', '|', '~', '\x7F', '\0', '\n', '\x80', '\xFF'}) {
        std::string text = "Hello";
        text[2] = bad;
        INFO(int(uint8_t(bad)));
        CHECK_FALSE(z85_decode(text));
    }
}

TEST_CASE("Z85 decoding rejects groups that overflow 32 bits", "[z85]") {
    CHECK(z85_decode("%nSc0") == std::optional(std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF}));
    CHECK_FALSE(z85_decode("%nSc1"));
    CHECK_FALSE(z85_decode("%nSd0"));
    CHECK_FALSE(z85_decode("#####"));
    // '$' and '#' can never start a group, so no valid key starts with them.
    CHECK_FALSE(z85_decode("$0000"));
    CHECK_FALSE(z85_decode("#0000"));
    CHECK(z85_decode("%0000"));
    CHECK_FALSE(parse_key(std::string("#") + (client_public.z85 + 1)));
}

TEST_CASE("Z85 encoding needs a multiple of 4 bytes", "[z85]") {
    const std::vector<uint8_t> three{1, 2, 3};
    CHECK_FALSE(z85_encode(three));
    CHECK(z85_encode(Bytes()) == std::optional<std::string>(""));
    const std::vector<uint8_t> zeros(4, 0);
    CHECK(z85_encode(zeros) == std::optional<std::string>("00000"));
}

TEST_CASE("hex in both cases", "[z85]") {
    const std::vector<uint8_t> bytes{0x00, 0xAB, 0xCD, 0xEF, 0x7F};
    CHECK(to_hex(bytes) == "00abcdef7f");
    CHECK(from_hex("00abcdef7f") == std::optional(bytes));
    CHECK(from_hex("00ABCDEF7F") == std::optional(bytes));
    CHECK(from_hex("00AbCdEf7F") == std::optional(bytes));
    CHECK(from_hex("") == std::optional(std::vector<uint8_t>{}));
    for (const char* bad : {"0", "abc", "0g", "0x00", "00 11", "00:11", "-1"}) {
        INFO(bad);
        CHECK_FALSE(from_hex(bad));
    }
}

TEST_CASE("parse_key takes 40 Z85 characters or 64 hex digits, nothing else", "[z85]") {
    const std::string z85 = server_public.z85;
    const std::string hex = server_public.hex;
    CHECK(parse_key(z85));
    CHECK(parse_key(hex));
    CHECK_FALSE(parse_key(""));
    CHECK_FALSE(parse_key(z85.substr(0, 35)));
    CHECK_FALSE(parse_key(z85 + "00000"));
    CHECK_FALSE(parse_key(z85 + std::string(1, '\0')));  // libzmq's 41-byte option form
    CHECK_FALSE(parse_key(" " + z85.substr(1)));
    CHECK_FALSE(parse_key(hex.substr(0, 63)));
    CHECK_FALSE(parse_key(hex + "0"));
    CHECK_FALSE(parse_key(hex.substr(0, 62) + "zz"));
    CHECK_FALSE(parse_key(std::string(32, 'A')));  // 32 raw bytes are not text
    CHECK_FALSE(parse_key(z85.substr(0, 39) + "~"));
}

TEST_CASE("public_key_id names a public key by its first 16 hex digits", "[z85]") {
    CHECK(public_key_id(key_from_hex(server_public.hex)) == "54fcba24e9324996...");
}

TEST_CASE("public_key_of is safe to call from many threads at once", "[z85]") {
    const Key secret = key_from_hex(client_secret.hex);
    const Key expected = key_from_hex(client_public.hex);
    std::vector<int> correct(4, 0);
    {
        std::vector<std::jthread> threads;
        for (size_t t = 0; t < correct.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 50; ++i) correct[t] += public_key_of(secret) == expected;
            });
        }
    }
    for (const int count : correct) CHECK(count == 50);
}

TEST_CASE("Z85 agrees with the installed libzmq", "[z85]") {
    const LibZmq zmq;
    REQUIRE(zmq.ready());

    SECTION("keys made by zmq_curve_keypair") {
        for (int i = 0; i < 200; ++i) {
            char public_text[41];
            char secret_text[41];
            REQUIRE(zmq.keypair(public_text, secret_text) == 0);
            INFO(public_text);
            const auto public_key = parse_key(public_text);
            const auto secret_key = parse_key(secret_text);
            REQUIRE(public_key);
            REQUIRE(secret_key);
            CHECK(public_key_of(*secret_key) == *public_key);
            CHECK(z85_encode(*public_key) == std::optional<std::string>(public_text));
            uint8_t by_libzmq[32];
            REQUIRE(zmq.decode(by_libzmq, public_text));
            CHECK(std::equal(public_key->begin(), public_key->end(), by_libzmq));
        }
    }
    SECTION("random 5-character groups, valid or not") {
        // Mostly characters near the top of the alphabet, where groups overflow.
        std::mt19937 random(85);
        const std::string characters =
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
            "@%$#@%$#@%$#nSc~ ";
        std::uniform_int_distribution<size_t> pick(0, characters.size() - 1);
        for (int i = 0; i < 20000; ++i) {
            std::string group(5, ' ');
            for (char& c : group) c = characters[pick(random)];
            uint8_t by_libzmq[4];
            const bool libzmq_accepts = zmq.decode(by_libzmq, group.c_str()) != nullptr;
            const auto ours = z85_decode(group);
            INFO(group);
            REQUIRE(bool(ours) == libzmq_accepts);
            if (ours) CHECK(std::equal(ours->begin(), ours->end(), by_libzmq));
        }
    }
}
