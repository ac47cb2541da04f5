// The key store: key log rules (docs/keylog.md), czmq and pyzmq certificates, indexing, candidates.
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "zmtp/curve.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

using namespace zmtp;

namespace {

// libzmq's documentation keys (doc/zmq_curve.txt).
const std::string client_public_z85 = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const std::string client_secret_z85 = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const std::string server_public_z85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const std::string server_secret_z85 = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const std::string server_secret_hex =
    "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7";
// A zmq_curve_keypair() pair whose Z85 forms contain '#'.
const std::string hash_public_z85 = "B>M18)PN]:>-vc&mT(].ikd6%A#{&ExBBx#OiVp0";
const std::string hash_secret_z85 = "mb$5S5<bI?jp17#(L0VIBV]4gS[L[P=$@H<<pB>Y";
// The worked CURVE vector (docs/protocol.md 4.9): ephemeral secrets as the key logger writes them.
const std::string client_ephemeral_secret_hex =
    "c226018bfe4c6a7fe68218ebc225c79e39e836e870ed36bab56bc9e8248afd78";
const std::string client_ephemeral_public_hex =
    "a16357296f8897b9b8a78bd83ba4fa9f0997b1ee1bbb8e764ea13621e568c80d";
const std::string server_ephemeral_secret_hex =
    "f1c72840331d5516b19b34e77945ebc37cb29e1aa088cb76743ef79e454df7da";
const std::string server_ephemeral_public_hex =
    "3340dd4004b7dd6d09fc037b20145ec2de3cbcc13e2cff742ab0ec597e1dc84e";
// Its k = crypto_box_beforenm(S', c'), and the client's MESSAGE frame it opens (body after the
// 2-byte frame header): nonce 4, plaintext 01 "hello".
const std::string session_key_hex =
    "b7f74c0ade3a4957cb4042f5c114c1751d6ea3349488c021ed40ba26a9cec44d";
const std::string client_message_hex =
    "074d455353414745 0000000000000004 a31b59ac1cb0be54a13440e86ab75bf53dbcbe99b35e";

Key key(std::string_view text) {
    const auto parsed = parse_key(text);
    REQUIRE(parsed);
    return *parsed;
}

std::string hex_of(const Key& k) {
    return to_hex(k);
}

std::vector<uint8_t> bytes_of_hex(std::string_view text) {
    std::string digits;
    for (char c : text)
        if (c != ' ') digits += c;
    const auto bytes = from_hex(digits);
    REQUIRE(bytes);
    return *bytes;
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return char(std::toupper(c)); });
    return text;
}

std::vector<std::string> sources_of(const std::vector<const KeyEntry*>& entries) {
    std::vector<std::string> sources;
    for (const KeyEntry* entry : entries) sources.push_back(entry->source);
    return sources;
}

// Fails when any warning holds 8 or more consecutive characters of any key-like text.
void check_no_key_material(const std::vector<KeyWarning>& warnings,
                           const std::vector<std::string>& key_texts) {
    std::vector<std::string> leaks;
    for (const KeyWarning& warning : warnings) {
        for (const std::string& text : key_texts) {
            for (size_t i = 0; i + 8 <= text.size(); ++i) {
                if (warning.message.find(text.substr(i, 8)) != std::string::npos) {
                    leaks.push_back(warning.message);
                }
            }
        }
    }
    CHECK(leaks.empty());
}

class TempDir {
  public:
    TempDir() {
        static int counter = 0;
        path_ =
            std::filesystem::temp_directory_path() /
            ("zmtp-keystore-test-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string write(const std::string& name, std::string_view content) const {
        const auto file = path_ / name;
        std::ofstream(file, std::ios::binary)
            .write(content.data(), std::streamsize(content.size()));
        return file.string();
    }
    std::string path(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

// Written as czmq's zcert_save does (docs/protocol.md section 7).
const std::string zcert_secret =
    "#   ****  Generated on 2024-05-12 14:15:15 by CZMQ  ****\n"
    "#   ZeroMQ CURVE **Secret** Certificate\n"
    "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
    "\n"
    "metadata\n"
    "    name = \"Pieter Hintjens\"\n"
    "    email = \"ph@imatix.com\"\n"
    "curve\n"
    "    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
    "    secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n";
const std::string zcert_public =
    "#   ****  Generated on 2024-05-12 14:15:15 by CZMQ  ****\n"
    "#   ZeroMQ CURVE Public Certificate\n"
    "#   Exchange securely, or use a secure mechanism to verify the contents\n"
    "#   of this file after exchange. Store public certificates in your home\n"
    "#   directory, in the .curve subdirectory.\n"
    "\n"
    "metadata\n"
    "    name = \"Pieter Hintjens\"\n"
    "    email = \"ph@imatix.com\"\n"
    "curve\n"
    "    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n";
// Written by pyzmq 24 zmq.auth.create_certificates(dir, "server", metadata={"name": "ctrlX
// server", "site": "line #4"}): metadata values are unquoted.
const std::string pyzmq_public =
    "#   ****  Generated on 2026-11-21 23:27:50.542703 by pyzmq  ****\n"
    "#   ZeroMQ CURVE Public Certificate\n"
    "#   Exchange securely, or use a secure mechanism to verify the contents\n"
    "#   of this file after exchange. Store public certificates in your home\n"
    "#   directory, in the .curve subdirectory.\n"
    "\n"
    "metadata\n"
    "curve\n"
    "    public-key = \"zd[TW0aIA[z)nz]n$VpWBL[@U&?*TVW3oM15lVg@\"\n";
const std::string pyzmq_secret =
    "#   ****  Generated on 2026-11-21 23:27:50.542703 by pyzmq  ****\n"
    "#   ZeroMQ CURVE **Secret** Certificate\n"
    "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
    "\n"
    "metadata\n"
    "    name = ctrlX server\n"
    "    site = line #4\n"
    "curve\n"
    "    public-key = \"zd[TW0aIA[z)nz]n$VpWBL[@U&?*TVW3oM15lVg@\"\n"
    "    secret-key = \"yM*T{En}!6OJH)/4%EbsO]CLuXdAK78Ptsa.O/a!\"\n";

// Key log text: the lines given, each ended by `eol`.
std::string keylog_text(std::initializer_list<std::string> lines, std::string_view eol = "\n") {
    std::string text;
    for (const std::string& line : lines) text += line + std::string(eol);
    return text;
}

// Loads `text` as a key log that must give `count` keys and no warning.
void load_keylog_cleanly(KeyStore& store, const std::string& text, std::string_view name,
                         size_t count) {
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text(text, name, warnings) == count);
    CHECK(warnings.empty());
    REQUIRE(store.size() == count);
}

std::string certificate(std::string_view public_value, std::string_view secret_value) {
    std::string text = "metadata\ncurve\n";
    if (!public_value.empty()) text += "    public-key = " + std::string(public_value) + "\n";
    if (!secret_value.empty()) text += "    secret-key = " + std::string(secret_value) + "\n";
    return text;
}

}  // namespace

TEST_CASE("key log: every label, Z85 and hex, derived public keys", "[keystore]") {
    KeyStore store;
    const std::string text = keylog_text({
        "# comment",
        "SERVER_PUBLIC " + server_public_z85,
        "SERVER_SECRET " + server_secret_hex,
        "CLIENT_PUBLIC " + client_public_z85,
        "CLIENT_SECRET " + client_secret_z85,
        "EPHEMERAL_SECRET " + client_ephemeral_secret_hex,
    });
    load_keylog_cleanly(store, text, "keys.log", 5);
    const auto& e = store.entries();
    CHECK(e[0].label == KeyLabel::ServerPublic);
    CHECK_FALSE(e[0].has_secret);
    CHECK(e[0].public_key == key(server_public_z85));
    CHECK(e[0].source == "keys.log:2");
    CHECK(e[1].label == KeyLabel::ServerSecret);
    CHECK(e[1].has_secret);
    CHECK(e[1].secret_key == key(server_secret_z85));
    CHECK(e[1].public_key == key(server_public_z85));
    CHECK(e[2].label == KeyLabel::ClientPublic);
    CHECK(e[3].label == KeyLabel::ClientSecret);
    CHECK(e[3].public_key == key(client_public_z85));
    CHECK(e[4].label == KeyLabel::EphemeralSecret);
    CHECK(e[4].public_key == key(client_ephemeral_public_hex));
    CHECK(e[4].source == "keys.log:6");
    CHECK(key_label_name(KeyLabel::EphemeralSecret) == "EPHEMERAL_SECRET");
}

TEST_CASE("key log: case-insensitive labels, runs of blanks, comments", "[keystore]") {
    KeyStore store;
    const std::string text = keylog_text({
        "",
        "   \t ",
        "   # an indented comment line SERVER_PUBLIC " + server_public_z85,
        "#SERVER_SECRET " + server_secret_z85,
        "server_secret\t\t" + server_secret_z85,
        "  Client_Secret  \t  " + client_secret_z85 + "   \t",
        "ephemeral_SECRET " + server_ephemeral_secret_hex + " # s' of conn 1",
        "EPHEMERAL_SECRET " + client_ephemeral_secret_hex + "\t#c'",
        "CLIENT_PUBLIC " + client_public_z85 + " #",
    });
    load_keylog_cleanly(store, text, "k", 5);
    CHECK(store.entries()[0].label == KeyLabel::ServerSecret);
    CHECK(store.entries()[0].source == "k:5");
    CHECK(store.entries()[1].label == KeyLabel::ClientSecret);
    CHECK(store.entries()[2].public_key == key(server_ephemeral_public_hex));
    CHECK(store.entries()[3].public_key == key(client_ephemeral_public_hex));
    CHECK(store.entries()[4].public_key == key(client_public_z85));
}

TEST_CASE("key log: '#' in the key field is part of the key", "[keystore]") {
    KeyStore store;
    std::vector<KeyWarning> warnings;
    // The key field is taken whole, also when a '#' follows the key with no blank between.
    const std::string text = keylog_text({
        "CLIENT_SECRET " + hash_secret_z85,
        "CLIENT_PUBLIC " + hash_public_z85 + " # has two '#'",
        "SERVER_PUBLIC " + server_public_z85 + "#glued",
    });
    CHECK(store.load_keylog_text(text, "k", warnings) == 2);
    REQUIRE(store.size() == 2);
    CHECK(store.entries()[0].public_key == key(hash_public_z85));
    CHECK(store.entries()[1].public_key == key(hash_public_z85));
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 3);
    CHECK_THAT(warnings[0].message, Catch::Contains("not 46 characters"));
}

TEST_CASE("key log: a key field starting with '#' is a key, not a comment", "[keystore]") {
    // No valid Z85 key starts with '#' ('#' and '$' overflow a group), but the field is still
    // the key: the line is reported as a bad key rather than silently read as a comment.
    KeyStore store;
    std::vector<KeyWarning> warnings;
    const std::string starts_with_hash = "#" + server_public_z85.substr(1);
    const std::string text = keylog_text({
        "SERVER_PUBLIC " + starts_with_hash,
        "SERVER_PUBLIC # no key here",
        "SERVER_PUBLIC\t#",
    });
    CHECK(store.load_keylog_text(text, "k", warnings) == 0);
    REQUIRE(warnings.size() == 3);
    CHECK(warnings[0].line == 1);
    CHECK_THAT(warnings[0].message, Catch::Contains("40 characters long but not valid Z85"));
    CHECK(warnings[1].line == 2);
    CHECK_THAT(warnings[1].message, Catch::Contains("not 1 characters"));
    CHECK(warnings[2].line == 3);
    check_no_key_material(warnings, {starts_with_hash});
}

TEST_CASE("key log: CRLF line endings and a byte order mark", "[keystore]") {
    KeyStore store;
    const std::string text = keylog_text(
        {
            "\xEF\xBB\xBFSERVER_PUBLIC " + server_public_z85,
            "# comment",
            "",
            "CLIENT_SECRET " + client_secret_z85 + " # trailing",
            "EPHEMERAL_SECRET " + client_ephemeral_secret_hex,
        },
        "\r\n");
    load_keylog_cleanly(store, text, "k", 3);
    CHECK(store.entries()[0].public_key == key(server_public_z85));
    CHECK(store.entries()[2].public_key == key(client_ephemeral_public_hex));
    CHECK(store.entries()[2].source == "k:5");
}

TEST_CASE("key log: malformed lines are skipped with their exact line numbers", "[keystore]") {
    KeyStore store;
    std::vector<KeyWarning> warnings;
    std::string text;
    text += "SERVER_PUBLIC " + server_public_z85 + "\n";                            // 1 ok
    text += "SERVER_KEY " + server_public_z85 + "\n";                               // 2 label
    text += "SERVER_SECRET\n";                                                      // 3 no key
    text += "SERVER_SECRET " + server_secret_z85.substr(0, 39) + "\n";              // 4 short
    text += "SERVER_SECRET " + server_secret_hex.substr(0, 63) + "g\n";             // 5 not hex
    text += "SERVER_SECRET " + server_secret_z85 + " junk\n";                       // 6 junk
    text += "CLIENT_SECRET " + client_secret_z85 + "\x01\x02\x7f\n";                // 7 binary
    text += "CLIENT_SECRET " + client_secret_z85 + std::string(1, '\0') + "\n";     // 8 NUL
    text += "CLIENT_PUBLIC " + client_public_z85 + std::string(5000, ' ') + "\n";   // 9 long
    text += client_secret_z85 + "\n";                                               // 10 no label
    text += "CLIENT_PUBLIC " + client_public_z85 + "\n";                            // 11 ok
    text += "SERVER_PUBLIC " + std::string("\xC3\xA9") + server_public_z85 + "\n";  // 12 UTF-8
    text += "EPHEMERAL_SECRET " + client_ephemeral_secret_hex;                      // 13 ok, no LF
    CHECK(store.load_keylog_text(text, "bad.log", warnings) == 3);
    REQUIRE(store.size() == 3);
    CHECK(store.entries()[1].source == "bad.log:11");
    CHECK(store.entries()[2].source == "bad.log:13");

    std::vector<size_t> lines;
    for (const KeyWarning& warning : warnings) {
        CHECK(warning.file == "bad.log");
        lines.push_back(warning.line);
    }
    CHECK(lines == std::vector<size_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 12});
    REQUIRE(warnings.size() == 10);
    CHECK_THAT(warnings[0].message, Catch::Contains("unknown label"));
    CHECK_THAT(warnings[1].message, Catch::Contains("missing key after SERVER_SECRET"));
    CHECK_THAT(warnings[2].message, Catch::Contains("not 39 characters"));
    CHECK_THAT(warnings[3].message, Catch::Contains("64 characters long but not valid hex"));
    CHECK_THAT(warnings[4].message, Catch::Contains("unexpected text after the key"));
    CHECK_THAT(warnings[5].message, Catch::Contains("control characters"));
    CHECK_THAT(warnings[6].message, Catch::Contains("NUL"));
    CHECK_THAT(warnings[7].message, Catch::Contains("longer than 4096"));
    CHECK_THAT(warnings[8].message, Catch::Contains("unknown label"));
    check_no_key_material(
        warnings, {server_public_z85, server_secret_z85, server_secret_hex, client_secret_z85,
                   client_public_z85, client_ephemeral_secret_hex});
}

TEST_CASE("key log: no warning contains any part of a key", "[keystore]") {
    // Every way a line can go wrong, with real keys (or near-keys) in every field.
    const std::vector<std::string> keys = {
        server_public_z85, server_secret_z85, server_secret_hex, client_public_z85,
        client_secret_z85, hash_secret_z85,   hash_public_z85,   client_ephemeral_secret_hex};
    std::string text;
    for (const std::string& k : keys) {
        text += k + "\n";                                                        // key alone
        text += k + " " + k + "\n";                                              // key as label
        text += "SERVER_SECRET " + k + " " + k + "\n";                           // key as junk
        text += "SERVER_SECRET " + k + k + "\n";                                 // doubled
        text += "SERVER_SECRET " + k.substr(1) + "\n";                           // one short
        text += "SERVER_SECRET " + k + "x\n";                                    // one long
        text += "SERVER_SECRET " + k.substr(0, 20) + "~" + k.substr(21) + "\n";  // bad char
        text += "SERVER_SECRET " + k + std::string(1, '\0') + k + "\n";          // NUL
        text += "SERVER_SECRET " + k + std::string(4100, '#') + "\n";            // overlong
    }
    KeyStore store;
    std::vector<KeyWarning> warnings;
    store.load_keylog_text(text, "leaky.log", warnings);
    CHECK(warnings.size() == std::min<size_t>(keys.size() * 9, KeyStore::max_warnings_per_source) +
                                 (keys.size() * 9 > KeyStore::max_warnings_per_source ? 1 : 0));
    check_no_key_material(warnings, keys);

    std::vector<KeyWarning> cert_warnings;
    for (const std::string& k : keys) {
        store.load_certificate_text(certificate(k + "x", k.substr(2)), "c", cert_warnings);
        store.load_certificate_text(certificate(k, "\"" + k), "c", cert_warnings);
        store.load_certificate_text(certificate(k, k + " " + k), "c", cert_warnings);
    }
    CHECK(cert_warnings.size() >= keys.size() * 3);
    check_no_key_material(cert_warnings, keys);
}

TEST_CASE("key log: line length limit", "[keystore]") {
    const std::string line = "SERVER_PUBLIC " + server_public_z85 + " #";
    const std::string longest = line + std::string(KeyStore::max_line_length - line.size(), '.');
    REQUIRE(longest.size() == 4096);
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text(longest + "\r\n", "k", warnings) == 1);
    CHECK(warnings.empty());
    store.clear();
    CHECK(store.load_keylog_text(longest + ".\n", "k", warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 1);
}

TEST_CASE("key log: warnings per file are capped", "[keystore]") {
    std::string text;
    for (int i = 0; i < 150; ++i) text += "junk\n";
    text += "SERVER_PUBLIC " + server_public_z85 + "\n";
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text(text, "junk.log", warnings) == 1);
    REQUIRE(warnings.size() == KeyStore::max_warnings_per_source + 1);
    CHECK(warnings[99].line == 100);
    CHECK(warnings.back().line == 0);
    CHECK_THAT(warnings.back().message, Catch::Contains("50 more"));
}

TEST_CASE("load_file: key logs, overlong lines across read chunks, no final newline",
          "[keystore]") {
    TempDir dir;
    std::string text = "SERVER_PUBLIC " + server_public_z85 + "\n";
    text += "CLIENT_PUBLIC " + std::string(200 * 1024, 'x') + "\n";  // longer than a read chunk
    text += "CLIENT_SECRET " + client_secret_z85 + "\r\n";
    text += "EPHEMERAL_SECRET " + client_ephemeral_secret_hex;
    const std::string path = dir.write("keys.log", text);
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.load_file(path, warnings) == 3);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].file == path);
    CHECK(warnings[0].line == 2);
    CHECK_THAT(warnings[0].message, Catch::Contains("longer than"));
    REQUIRE(store.size() == 3);
    CHECK(store.entries()[1].source == path + ":3");
    CHECK(store.entries()[2].public_key == key(client_ephemeral_public_hex));
}

TEST_CASE("load_file: an unreadable file gives one warning with line 0", "[keystore]") {
    TempDir dir;
    KeyStore store;
    std::vector<KeyWarning> warnings;
    const std::string missing = dir.path("missing.log");
    CHECK(store.load_file(missing, warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].file == missing);
    CHECK(warnings[0].line == 0);
    CHECK_THAT(warnings[0].message, Catch::Contains(std::strerror(ENOENT)));

    warnings.clear();
    const std::string directory = dir.path("");
    CHECK(store.load_file(directory, warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 0);
    CHECK_THAT(warnings[0].message, Catch::Contains(std::strerror(EISDIR)));

    warnings.clear();
    CHECK(store.load_file(dir.write("empty.log", ""), warnings) == 0);
    CHECK(warnings.empty());
    CHECK(store.size() == 0);
}

TEST_CASE("certificates: czmq zcert secret and public files", "[keystore]") {
    TempDir dir;
    KeyStore store;
    std::vector<KeyWarning> warnings;
    const std::string secret_path = dir.write("server.cert_secret", zcert_secret);
    CHECK(store.load_file(secret_path, warnings) == 1);
    CHECK(warnings.empty());
    REQUIRE(store.size() == 1);
    const KeyEntry& secret = store.entries()[0];
    CHECK(secret.label == KeyLabel::CertificateSecret);
    CHECK(secret.has_secret);
    CHECK(secret.secret_key == key(server_secret_z85));
    CHECK(secret.public_key == key(server_public_z85));
    CHECK(secret.source == secret_path + ":10");
    CHECK(store.find_secret(key(server_public_z85)) == &secret);

    const std::string public_path = dir.write("server.cert", zcert_public);
    CHECK(store.load_file(public_path, warnings) == 1);
    CHECK(warnings.empty());
    REQUIRE(store.size() == 2);
    CHECK(store.entries()[1].label == KeyLabel::CertificatePublic);
    CHECK_FALSE(store.entries()[1].has_secret);
    CHECK(store.entries()[1].public_key == key(server_public_z85));
}

TEST_CASE("certificates: pyzmq .key and .key_secret files", "[keystore]") {
    TempDir dir;
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.load_file(dir.write("server.key_secret", pyzmq_secret), warnings) == 1);
    CHECK(store.load_file(dir.write("server.key", pyzmq_public), warnings) == 1);
    CHECK(warnings.empty());
    REQUIRE(store.size() == 2);
    const Key public_key = key("zd[TW0aIA[z)nz]n$VpWBL[@U&?*TVW3oM15lVg@");
    CHECK(store.entries()[0].label == KeyLabel::CertificateSecret);
    CHECK(store.entries()[0].secret_key == key("yM*T{En}!6OJH)/4%EbsO]CLuXdAK78Ptsa.O/a!"));
    CHECK(store.entries()[0].public_key == public_key);
    CHECK(store.entries()[1].label == KeyLabel::CertificatePublic);
    CHECK(store.entries()[1].public_key == public_key);
}

TEST_CASE("certificates: quoting, '#' in keys, comments", "[keystore]") {
    KeyStore store;
    std::vector<KeyWarning> warnings;
    const std::string dq = "\"" + hash_secret_z85 + "\"";
    const std::string sq = "'" + hash_secret_z85 + "'";
    CHECK(store.load_certificate_text(certificate("", dq), "a", warnings) == 1);
    CHECK(store.load_certificate_text(certificate("", sq + "   # the secret"), "b", warnings) ==
          0);  // the same key again: a duplicate
    CHECK(warnings.empty());
    REQUIRE(store.size() == 1);
    CHECK(store.entries()[0].public_key == key(hash_public_z85));

    // Unquoted values end at '#', so a Z85 key with '#' must be quoted.
    CHECK(store.load_certificate_text(certificate(hash_public_z85, ""), "c", warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 3);
    CHECK_THAT(warnings[0].message, Catch::Contains("public-key"));
    warnings.clear();
    // Unquoted keys without '#' are fine, with or without blanks around '='.
    CHECK(store.load_certificate_text("curve\n    public-key=" + server_public_z85 + "  # S\n", "d",
                                      warnings) == 1);
    CHECK(warnings.empty());
    CHECK(store.entries().back().label == KeyLabel::CertificatePublic);
}

TEST_CASE("certificates: mismatched keys and malformed ZPL", "[keystore]") {
    KeyStore store;
    std::vector<KeyWarning> warnings;
    const std::string mismatched =
        certificate("\"" + client_public_z85 + "\"", "\"" + server_secret_z85 + "\"");
    CHECK(store.load_certificate_text(mismatched, "m", warnings) == 1);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 3);
    CHECK_THAT(warnings[0].message, Catch::Contains("does not match"));
    CHECK(store.entries()[0].public_key == key(server_public_z85));  // derived wins

    warnings.clear();
    const std::string bad_zpl =
        "metadata\n"
        "   name = \"three spaces\"\n"
        "\tname = \"a tab\"\n"
        "    email = \"unterminated\n"
        "curve\n"
        "    public-key = \"" +
        client_public_z85 +
        "\" junk\n"
        "    secret-key = \"" +
        client_secret_z85 + "\"\n";
    CHECK(store.load_certificate_text(bad_zpl, "z", warnings) == 1);
    std::vector<size_t> lines;
    for (const KeyWarning& warning : warnings) lines.push_back(warning.line);
    CHECK(lines == std::vector<size_t>{2, 3, 4, 6});
    CHECK(store.entries().back().label == KeyLabel::CertificateSecret);
    CHECK(store.entries().back().public_key == key(client_public_z85));

    warnings.clear();
    CHECK(store.load_certificate_text("metadata\n    name = x\n", "n", warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].line == 0);
    CHECK_THAT(warnings[0].message, Catch::Contains("no 'curve' section"));

    warnings.clear();
    CHECK(store.load_certificate_text("curve\n    other = 1\n", "e", warnings) == 0);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0].message, Catch::Contains("neither public-key nor secret-key"));
}

TEST_CASE("load_file tells certificates from key logs by a curve section line", "[keystore]") {
    TempDir dir;
    KeyStore store;
    std::vector<KeyWarning> warnings;
    // A key log whose comment mentions curve is still a key log.
    const std::string keylog = "# curve keys\n   curve\nSERVER_PUBLIC " + server_public_z85 + "\n";
    CHECK(store.load_file(dir.write("keys.log", keylog), warnings) == 1);
    REQUIRE(warnings.size() == 1);  // the indented "curve" is not a section line: unknown label
    CHECK(warnings[0].line == 2);
    CHECK(store.entries()[0].label == KeyLabel::ServerPublic);

    warnings.clear();
    const std::string cert_crlf =
        "curve   # section\r\n    secret-key = \"" + server_secret_z85 + "\"\r\n";
    CHECK(store.load_file(dir.write("crlf.cert", cert_crlf), warnings) == 1);
    CHECK(warnings.empty());
    CHECK(store.entries()[1].label == KeyLabel::CertificateSecret);
}

TEST_CASE("duplicates, find_secret and candidate order", "[keystore]") {
    const Key server_public = key(server_public_z85);  // public of server_secret
    const Key server_secret = key(server_secret_z85);
    const Key client_secret = key(client_secret_z85);
    const Key client_public = key(client_public_z85);
    const Key cert_secret = key(hash_secret_z85);
    const Key cert_public_only = key(client_ephemeral_public_hex);
    const Key ephemeral = key(server_ephemeral_secret_hex);
    const Key other_server_public = key(client_ephemeral_secret_hex);  // any 32 bytes

    KeyStore store;
    CHECK(store.add(KeyLabel::ClientSecret, client_secret, "1"));
    CHECK(store.add(KeyLabel::EphemeralSecret, ephemeral, "2"));
    CHECK(store.add(KeyLabel::CertificatePublic, cert_public_only, "3"));
    CHECK(store.add(KeyLabel::ServerSecret, server_secret, "4"));
    CHECK(store.add(KeyLabel::ServerPublic, other_server_public, "5"));
    CHECK(store.add(KeyLabel::CertificateSecret, cert_secret, "6"));
    CHECK(store.add(KeyLabel::ServerPublic, server_public, "7"));
    CHECK(store.add(KeyLabel::ClientPublic, client_public, "8"));
    CHECK(store.add(KeyLabel::EphemeralSecret, client_secret, "9"));      // same secret, new label
    CHECK_FALSE(store.add(KeyLabel::ServerSecret, server_secret, "10"));  // duplicate
    CHECK_FALSE(store.add(KeyLabel::ServerPublic, server_public, "11"));  // duplicate
    CHECK(store.size() == 9);

    const std::vector<Key> expected_publics = {
        other_server_public, server_public, key(hash_public_z85),
        cert_public_only,    client_public, key(server_ephemeral_public_hex)};
    const std::vector<Key> publics = store.server_public_candidates();
    CHECK(publics.size() == expected_publics.size());
    for (size_t i = 0; i < std::min(publics.size(), expected_publics.size()); ++i) {
        INFO(i);
        CHECK(hex_of(publics[i]) == hex_of(expected_publics[i]));
    }

    std::vector<std::string> secret_sources;
    for (const KeyEntry* entry : store.secret_candidates()) secret_sources.push_back(entry->source);
    // server/certificate secrets, then ephemeral, then client; client_secret once only.
    CHECK(secret_sources == std::vector<std::string>{"4", "6", "2", "9"});

    const KeyEntry* found = store.find_secret(client_public);
    REQUIRE(found);
    CHECK(found->secret_key == client_secret);
    CHECK(found->source == "1");  // the first entry with that secret
    REQUIRE(store.find_secret(key(hash_public_z85)));
    CHECK(store.find_secret(key(hash_public_z85))->label == KeyLabel::CertificateSecret);
    CHECK(store.find_secret(other_server_public) == nullptr);  // public only
    CHECK(store.find_secret(cert_public_only) == nullptr);
}

TEST_CASE("candidate lists follow changes, and a copy's point into the copy", "[keystore]") {
    KeyStore store;
    CHECK(store.add(KeyLabel::ServerPublic, key(server_public_z85), "1"));
    CHECK(store.server_public_candidates().size() == 1);
    CHECK(store.secret_candidates().empty());
    CHECK(store.add(KeyLabel::ServerSecret, key(server_secret_z85), "2"));  // same S: no new S
    CHECK(store.server_public_candidates().size() == 1);
    REQUIRE(store.secret_candidates().size() == 1);
    CHECK(store.secret_candidates()[0]->source == "2");

    KeyStore copy = store;
    CHECK(store.add(KeyLabel::EphemeralSecret, key(hash_secret_z85), "3"));
    CHECK(store.secret_candidates().size() == 2);
    REQUIRE(copy.secret_candidates().size() == 1);
    CHECK(copy.secret_candidates()[0] == &copy.entries()[1]);
    store.clear();
    CHECK(store.secret_candidates().empty());
    CHECK(copy.server_public_candidates().size() == 1);
}

TEST_CASE("generation counts changes; clear empties", "[keystore]") {
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.generation() == 0);
    store.clear();
    CHECK(store.generation() == 0);
    const std::string text = "SERVER_PUBLIC " + server_public_z85 + "\n";
    store.load_keylog_text(text, "k", warnings);
    const uint64_t after_load = store.generation();
    CHECK(after_load > 0);
    store.load_keylog_text(text, "k", warnings);  // nothing new
    store.load_keylog_text("junk\n", "k", warnings);
    CHECK(store.generation() == after_load);
    CHECK(store.add(KeyLabel::ServerSecret, key(server_secret_z85)));
    CHECK(store.generation() > after_load);
    const uint64_t before_clear = store.generation();
    store.clear();
    CHECK(store.generation() > before_clear);
    CHECK(store.size() == 0);
    CHECK(store.find_secret(key(server_public_z85)) == nullptr);
    CHECK(store.server_public_candidates().empty());
    CHECK(store.secret_candidates().empty());
    const uint64_t after_clear = store.generation();
    CHECK(store.load_keylog_text(text, "k", warnings) == 1);  // no longer a duplicate
    CHECK(store.generation() > after_clear);
}

TEST_CASE("load_file: 100 000 keys", "[keystore]") {
    constexpr size_t key_count = 100000;
    std::mt19937_64 random(2069);
    std::vector<Key> secrets(key_count);
    std::string secret_log;
    std::string public_log;
    for (Key& secret : secrets) {
        for (auto& byte : secret) byte = uint8_t(random());
        secret_log += "EPHEMERAL_SECRET " + to_hex(secret) + "\n";  // as the key logger writes
        public_log += "SERVER_PUBLIC " + *z85_encode(secret) + "\n";
    }
    TempDir dir;
    const std::string secret_path = dir.write("secrets.log", secret_log);
    const std::string public_path = dir.write("publics.log", public_log);

    using Clock = std::chrono::steady_clock;
    const auto seconds_since = [](Clock::time_point start) {
        return std::chrono::duration<double>(Clock::now() - start).count();
    };
    KeyStore publics;
    std::vector<KeyWarning> warnings;
    auto start = Clock::now();
    CHECK(publics.load_file(public_path, warnings) == key_count);
    const double public_seconds = seconds_since(start);

    KeyStore store;
    start = Clock::now();
    CHECK(store.load_file(secret_path, warnings) == key_count);
    const double secret_seconds = seconds_since(start);
    WARN("100000 Z85 public keys loaded in " << public_seconds << " s; 100000 hex secrets in "
                                             << secret_seconds << " s");
    CHECK(warnings.empty());
    REQUIRE(store.size() == key_count);

    std::uniform_int_distribution<size_t> pick(0, key_count - 1);
    for (int i = 0; i < 200; ++i) {
        const size_t index = pick(random);
        const KeyEntry* found = store.find_secret(public_key_of(secrets[index]));
        REQUIRE(found);
        CHECK(found->secret_key == secrets[index]);
        CHECK(found->source == secret_path + ":" + std::to_string(index + 1));
        CHECK(publics.entries()[index].public_key == secrets[index]);
    }
}

// ---------------------------------------------------------------------------------------------
// SESSION_KEY (docs/keylog.md SESSION_KEY): a connection's precomputed key k, not an X25519 secret

TEST_CASE("session keys: hex and Z85, labels in any case, trailing comments", "[keystore]") {
    const Key k = key(session_key_hex);
    const Key z85_session = key(hash_secret_z85);  // any 32 bytes; its Z85 form has '#' in it
    const Key upper_session = key(server_ephemeral_public_hex);
    KeyStore store;
    const std::string text = keylog_text({
        "# zmtp keylog pid=1", "SESSION_KEY " + session_key_hex,
        "EPHEMERAL_SECRET " + client_ephemeral_secret_hex,
        "session_key\t" + hash_secret_z85 + "   # conn 2", "SERVER_SECRET " + server_secret_z85,
        "  Session_Key " + upper(server_ephemeral_public_hex) + "\t#c",
        "SESSION_KEY " + *z85_encode(k) + " # the first k again, as Z85: a duplicate",
        "SESSION_KEY " + session_key_hex,  // and again as the other peer logs it
    });
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text(text, "k", warnings) == 5);
    CHECK(warnings.empty());
    REQUIRE(store.size() == 5);

    const KeyEntry& first = store.entries()[0];
    CHECK(first.label == KeyLabel::SessionKey);
    CHECK(first.has_secret);
    CHECK(first.secret_key == k);
    CHECK(first.public_key == Key{});  // nothing derived from k
    CHECK(first.source == "k:2");
    CHECK(store.entries()[2].secret_key == z85_session);
    CHECK(store.entries()[2].public_key == Key{});
    CHECK(store.entries()[4].secret_key == upper_session);
    CHECK(key_label_name(KeyLabel::SessionKey) == "SESSION_KEY");

    // Every SESSION_KEY, in load order, and nothing else.
    CHECK(sources_of(store.session_keys()) == std::vector<std::string>{"k:2", "k:4", "k:6"});
    for (const KeyEntry* entry : store.session_keys()) CHECK(entry->label == KeyLabel::SessionKey);
    CHECK(store.session_keys()[0] == &first);

    // The logged k opens the worked vector's MESSAGE box (docs/protocol.md 4.9).
    const auto body = bytes_of_hex(client_message_hex);
    uint8_t nonce[crypto_box_NONCEBYTES];
    std::memcpy(nonce, "CurveZMQMESSAGEC", 16);
    std::memcpy(nonce + 16, body.data() + 8, 8);
    std::vector<uint8_t> plain(body.size() - 16 - crypto_box_MACBYTES);
    REQUIRE(crypto_box_open_easy_afternm(plain.data(), body.data() + 16, body.size() - 16, nonce,
                                         store.session_keys()[0]->secret_key.data()) == 0);
    CHECK(plain == bytes_of_hex("01 68656c6c6f"));
}

TEST_CASE("session keys are in no other candidate list and never found as secrets", "[keystore]") {
    const Key k = key(session_key_hex);
    const Key ephemeral = key(client_ephemeral_secret_hex);
    KeyStore store;
    CHECK(store.add(KeyLabel::SessionKey, k, "1"));
    CHECK(store.add(KeyLabel::EphemeralSecret, ephemeral, "2"));
    CHECK(store.add(KeyLabel::ServerSecret, key(server_secret_z85), "3"));
    // The same 32 bytes as a session key and as an X25519 secret are two different keys.
    CHECK(store.add(KeyLabel::SessionKey, ephemeral, "4"));
    CHECK(store.add(KeyLabel::SessionKey, key(server_public_z85), "5"));  // equal to a public S
    REQUIRE(store.size() == 5);

    CHECK(sources_of(store.session_keys()) == std::vector<std::string>{"1", "4", "5"});
    CHECK(sources_of(store.secret_candidates()) == std::vector<std::string>{"3", "2"});
    const std::vector<Key> publics = store.server_public_candidates();
    CHECK(publics == std::vector<Key>{key(server_public_z85), key(client_ephemeral_public_hex)});
    for (const Key& candidate : publics) {
        CHECK(candidate != Key{});
        CHECK(candidate != public_key_of(k));
    }

    CHECK(store.find_secret(public_key_of(k)) == nullptr);
    CHECK(store.find_secret(Key{}) == nullptr);
    // The public key of `ephemeral` finds the EPHEMERAL_SECRET entry, not the SESSION_KEY one.
    const KeyEntry* found = store.find_secret(key(client_ephemeral_public_hex));
    REQUIRE(found);
    CHECK(found->label == KeyLabel::EphemeralSecret);
    CHECK(found->source == "2");
    const KeyEntry* server = store.find_secret(key(server_public_z85));
    REQUIRE(server);
    CHECK(server->label == KeyLabel::ServerSecret);
    for (const KeyEntry& entry : store.entries()) {
        if (entry.label != KeyLabel::SessionKey) continue;
        CHECK(entry.public_key == Key{});
        CHECK(store.find_secret(public_key_of(entry.secret_key)) != &entry);
    }
}

TEST_CASE("session keys: duplicates ignored, the list follows changes", "[keystore]") {
    const Key k = key(session_key_hex);
    KeyStore store;
    CHECK(store.session_keys().empty());
    CHECK(store.add(KeyLabel::SessionKey, k, "a"));
    const uint64_t generation = store.generation();
    CHECK_FALSE(store.add(KeyLabel::SessionKey, k, "b"));  // the other peer's line: ignored
    CHECK(store.generation() == generation);
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text("SESSION_KEY " + *z85_encode(k) + "\n", "k", warnings) == 0);
    CHECK(warnings.empty());
    REQUIRE(store.session_keys().size() == 1);
    CHECK(store.session_keys()[0]->source == "a");

    CHECK(store.add(KeyLabel::SessionKey, key(hash_secret_z85), "c"));
    CHECK(sources_of(store.session_keys()) == std::vector<std::string>{"a", "c"});

    KeyStore copy = store;  // the copy's list points into the copy
    REQUIRE(copy.session_keys().size() == 2);
    CHECK(copy.session_keys()[0] == &copy.entries()[0]);
    CHECK(copy.session_keys()[1] == &copy.entries()[1]);

    store.clear();
    CHECK(store.session_keys().empty());
    CHECK(store.add(KeyLabel::SessionKey, k, "d"));  // no longer a duplicate after clear()
    CHECK(sources_of(store.session_keys()) == std::vector<std::string>{"d"});
    CHECK(copy.session_keys().size() == 2);
}

TEST_CASE("session keys: the list is built once and shared by concurrent readers", "[keystore]") {
    KeyStore store;
    std::mt19937_64 random(7);
    for (int i = 0; i < 500; ++i) {
        Key k;
        for (auto& byte : k) byte = uint8_t(random());
        store.add(i % 2 ? KeyLabel::SessionKey : KeyLabel::EphemeralSecret, k, std::to_string(i));
    }
    std::vector<const std::vector<const KeyEntry*>*> seen(4);
    std::vector<size_t> sizes(4);
    {
        std::vector<std::jthread> readers;
        for (size_t t = 0; t < 4; ++t) {
            readers.emplace_back([&, t] {
                for (int round = 0; round < 50; ++round) {
                    const auto& list = store.session_keys();
                    seen[t] = &list;
                    sizes[t] = list.size() + store.secret_candidates().size();
                }
            });
        }
    }
    for (size_t t = 0; t < 4; ++t) {
        CHECK(seen[t] == &store.session_keys());
        CHECK(sizes[t] == 500);
    }
    CHECK(store.session_keys().size() == 250);
    CHECK(store.session_keys().front()->source == "1");
    CHECK(store.session_keys().back()->source == "499");
}

TEST_CASE("session keys: malformed lines are skipped, warnings hold no key material",
          "[keystore]") {
    const std::string z85 = *z85_encode(key(session_key_hex));
    const std::vector<std::string> keys = {session_key_hex, upper(session_key_hex), z85};
    std::string text;
    text += "SESSION_KEY\n";                                                    // 1 no key
    text += "SESSION_KEY " + session_key_hex.substr(0, 63) + "\n";              // 2 short
    text += "SESSION_KEY " + session_key_hex.substr(0, 63) + "x\n";             // 3 not hex
    text += "SESSION_KEY " + z85.substr(0, 39) + "~\n";                         // 4 not Z85
    text += "SESSION_KEY " + session_key_hex + " " + session_key_hex + "\n";    // 5 junk
    text += "SESSION_KEYS " + session_key_hex + "\n";                           // 6 label
    text += "SESSION " + z85 + "\n";                                            // 7 label
    text += session_key_hex + "\n";                                             // 8 no label
    text += "SESSION_KEY " + session_key_hex + "\x01\n";                        // 9 binary
    text += "SESSION_KEY " + session_key_hex + std::string(4100, ' ') + "x\n";  // 10 long
    text += "SESSION_KEY " + z85 + session_key_hex + "\n";                      // 11 doubled
    text += "session_key " + upper(session_key_hex) + " #ok\n";                 // 12 ok
    KeyStore store;
    std::vector<KeyWarning> warnings;
    CHECK(store.load_keylog_text(text, "bad.log", warnings) == 1);
    REQUIRE(store.session_keys().size() == 1);
    CHECK(store.session_keys()[0]->source == "bad.log:12");

    std::vector<size_t> lines;
    for (const KeyWarning& warning : warnings) lines.push_back(warning.line);
    CHECK(lines == std::vector<size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    REQUIRE(warnings.size() == 11);
    CHECK_THAT(warnings[0].message, Catch::Contains("missing key after SESSION_KEY"));
    CHECK_THAT(warnings[2].message, Catch::Contains("64 characters long but not valid hex"));
    CHECK_THAT(warnings[3].message, Catch::Contains("40 characters long but not valid Z85"));
    CHECK_THAT(warnings[4].message, Catch::Contains("unexpected text after the key"));
    CHECK_THAT(warnings[5].message, Catch::Contains("unknown label"));
    CHECK_THAT(warnings[5].message, Catch::Contains("SESSION_KEY"));  // the labels it knows
    check_no_key_material(warnings, keys);
}

TEST_CASE("key entries wipe their secret when destroyed", "[keystore]") {
    const Key k = key(session_key_hex);
    alignas(KeyEntry) unsigned char storage[sizeof(KeyEntry)];
    auto* entry = new (storage) KeyEntry{KeyLabel::SessionKey, {}, k, true, "k:1"};
    const size_t offset = size_t(entry->secret_key.data() - storage);
    REQUIRE(offset + k.size() <= sizeof storage);
    entry->~KeyEntry();
    CHECK(std::all_of(storage + offset, storage + offset + k.size(),
                      [](unsigned char byte) { return byte == 0; }));

    alignas(KeyInput) unsigned char input_storage[sizeof(KeyInput)];
    auto* input = new (input_storage) KeyInput{KeyLabel::SessionKey, k, "k:1"};
    const size_t input_offset = size_t(input->key.data() - input_storage);
    input->~KeyInput();
    CHECK(std::all_of(input_storage + input_offset, input_storage + input_offset + k.size(),
                      [](unsigned char byte) { return byte == 0; }));
}

TEST_CASE("precomputed CURVE keys wipe themselves when destroyed", "[curve]") {
    const Key k = key(session_key_hex);
    alignas(curve::SharedKey) unsigned char storage[sizeof(curve::SharedKey)];
    auto* shared = new (storage) curve::SharedKey;
    std::memcpy(shared->bytes.data(), k.data(), k.size());
    REQUIRE(std::memcmp(storage, k.data(), k.size()) == 0);
    shared->~SharedKey();
    CHECK(std::all_of(storage, storage + sizeof storage,
                      [](unsigned char byte) { return byte == 0; }));

    // A copy is a key of its own, wiped on its own.
    curve::SharedKey original;
    std::memcpy(original.bytes.data(), k.data(), k.size());
    auto* copy = new (storage) curve::SharedKey(original);
    copy->~SharedKey();
    CHECK(std::all_of(storage, storage + sizeof storage,
                      [](unsigned char byte) { return byte == 0; }));
    CHECK(std::equal(original.bytes.begin(), original.bytes.end(), k.begin()));
}
