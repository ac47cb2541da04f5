// zmtp-send: sends the client messages of captured ZMTP connections (decrypted with the usual
// key options) to a live endpoint with real libzmq, and compares the replies and their latency
// with the captured ones.
#include <sodium.h>
#include <zmq.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <set>

#include "send_report.hpp"
#include "tool_setup.hpp"
#include "zmtp/keystore.hpp"
#include "zmtp/z85.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_unreadable = 1;
constexpr int exit_usage = 2;

struct Options {
    std::vector<std::string> captures;
    std::vector<std::string> keylogs;
    std::string ports = tool_setup::default_ports();
    std::string filter;
    bool detect = false;
    std::vector<uint64_t> connections;
    std::string to;
    double speed = 1;
    bool fast = false;
    size_t max_messages = 0;
    double duration = 0;
    double reply_timeout = 5;
    double connect_timeout = 3;
    std::string curve_server_key;
    std::string curve_client_cert;
    std::optional<int> hb_ivl, hb_ttl, hb_timeout;
    bool no_heartbeat = false;
    bool json = false, csv = false;
    std::string html, output;
    bool dry_run = false;
};

void add_options(CLI::App& app, Options& o) {
    app.add_option("captures", o.captures, "pcap/pcapng files, merged in time order")->required();
    tool_setup::add_keylog_option(app, o.keylogs);
    app.add_option("--ports", o.ports, "ZMTP ports of the capture, e.g. 2069,2070 or 5000-5010")
        ->capture_default_str();
    app.add_option("-f,--filter", o.filter, "BPF filter applied to the captures");
    tool_setup::add_detect_flag(app, o.detect);
    app.add_option("-c,--connection", o.connections,
                   "send this connection (numbered as zmtp-replay's report; repeatable; default: "
                   "every connection with something to send)")
        ->allow_extra_args(false);
    app.add_option("--to", o.to,
                   "the endpoint to send to, tcp://HOST:PORT (nothing is sent "
                   "without it)");
    auto* speed = app.add_option("--speed", o.speed, "N times the captured pace (default 1)")
                      ->check(CLI::PositiveNumber);
    app.add_flag("--fast", o.fast,
                 "as fast as the server answers: each message after the replies "
                 "the capture had before it")
        ->excludes(speed);
    app.add_option("--max-messages", o.max_messages, "send at most N messages per connection");
    app.add_option("--duration", o.duration, "stop sending after S seconds")
        ->check(CLI::PositiveNumber);
    app.add_option("--reply-timeout", o.reply_timeout,
                   "seconds to wait for an awaited reply (default 5)")
        ->check(CLI::PositiveNumber);
    app.add_option("--connect-timeout", o.connect_timeout,
                   "seconds to wait for the connection and its handshake (default 3)")
        ->check(CLI::PositiveNumber);
    app.add_option("--curve-server-key", o.curve_server_key,
                   "use CURVE with this server public key: Z85 (40), hex (64), or a certificate "
                   "or key log file holding it");
    app.add_option("--curve-client-cert", o.curve_client_cert,
                   "CURVE: the client's keypair, a czmq/pyzmq certificate or key log with "
                   "CLIENT_SECRET (default: a new keypair)");
    app.add_option("--heartbeat-ivl", o.hb_ivl,
                   "ZMQ_HEARTBEAT_IVL in ms (default: the captured "
                   "PING interval)");
    app.add_option("--heartbeat-ttl", o.hb_ttl,
                   "ZMQ_HEARTBEAT_TTL in ms (default: the captured "
                   "PING's TTL)");
    app.add_option("--heartbeat-timeout", o.hb_timeout,
                   "ZMQ_HEARTBEAT_TIMEOUT in ms (not on the wire; default: libzmq's, the IVL)");
    app.add_flag("--no-heartbeat", o.no_heartbeat, "no heartbeat options, whatever was captured");
    auto* json = app.add_flag("--json", o.json, "JSON report");
    auto* csv = app.add_flag("--csv", o.csv, "CSV: one row per request");
    json->excludes(csv);
    app.add_option("--html", o.html, "also write a self-contained HTML report to this file");
    app.add_option("-o,--output", o.output, "write the text/JSON/CSV output to this file");
    app.add_flag("--dry-run", o.dry_run, "list what would be sent, send nothing");
}

// tcp://HOST:PORT, nothing else.
bool valid_endpoint(const std::string& to) {
    if (!to.starts_with("tcp://")) return false;
    const size_t colon = to.rfind(':');
    if (colon <= 6 || colon + 1 >= to.size()) return false;
    const std::string port = to.substr(colon + 1);
    return port.find_first_not_of("0123456789") == std::string::npos && std::stoul(port) > 0 &&
           std::stoul(port) <= 65535;
}

// A key given as text, or the only key of `labels` in a certificate or key log file.
const zmtp::KeyEntry* key_in_file(const std::string& path, zmtp::KeyStore& store,
                                  std::initializer_list<zmtp::KeyLabel> labels,
                                  std::string& error) {
    std::vector<zmtp::KeyWarning> warnings;
    store.load_file(path, warnings);
    if (!warnings.empty() && store.size() == 0) {
        error = warnings.front().message;
        return nullptr;
    }
    const zmtp::KeyEntry* found = nullptr;
    for (const zmtp::KeyEntry& e : store.entries()) {
        if (std::find(labels.begin(), labels.end(), e.label) == labels.end()) continue;
        if (found && found->public_key != e.public_key) {
            error = "it holds more than one such key";
            return nullptr;
        }
        found = &e;
    }
    if (!found) error = "it holds no such key";
    return found;
}

bool curve_options(const Options& o, zmtpsend::CurveOptions& curve) {
    using zmtp::KeyLabel;
    if (auto key = zmtp::parse_key(o.curve_server_key)) {
        curve.server_public = *key;
    } else {
        zmtp::KeyStore store;
        std::string error;
        if (!std::ifstream(o.curve_server_key)) {
            std::cerr << "zmtp-send: --curve-server-key: neither a Z85 or hex key nor a readable "
                         "file\n";
            return false;
        }
        const zmtp::KeyEntry* e =
            key_in_file(o.curve_server_key, store,
                        {KeyLabel::ServerPublic, KeyLabel::ServerSecret,
                         KeyLabel::CertificatePublic, KeyLabel::CertificateSecret},
                        error);
        if (!e) {
            std::cerr << "zmtp-send: --curve-server-key " << o.curve_server_key << ": " << error
                      << "\n";
            return false;
        }
        curve.server_public = e->public_key;
    }
    if (o.curve_client_cert.empty()) {
        crypto_box_keypair(curve.client_public.data(), curve.client_secret.data());
        curve.client_generated = true;
        return true;
    }
    zmtp::KeyStore store;
    std::string error;
    const zmtp::KeyEntry* e = key_in_file(
        o.curve_client_cert, store, {KeyLabel::ClientSecret, KeyLabel::CertificateSecret}, error);
    if (!e || !e->has_secret) {
        std::cerr << "zmtp-send: --curve-client-cert " << o.curve_client_cert << ": "
                  << (e ? "no secret key" : error) << "\n";
        return false;
    }
    curve.client_public = e->public_key;
    curve.client_secret = e->secret_key;
    return true;
}

bool sendable(const zmtpsend::ConnectionScript& s) {
    return !s.sent.empty() || !s.subscriptions.empty();
}

// Why a connection cannot be sent, or empty.
std::string unsendable_reason(const zmtpsend::ConnectionScript& s) {
    if (!s.decrypted)
        return "its messages are not decrypted" +
               (s.not_decrypted_why.empty() ? std::string() : " (" + s.not_decrypted_why + ")");
    if (!s.handshake_ready) return "its handshake did not succeed in the capture";
    switch (s.client_type) {
        case zmtp::SocketType::Req:
        case zmtp::SocketType::Dealer:
        case zmtp::SocketType::Router:
        case zmtp::SocketType::Sub:
        case zmtp::SocketType::Xsub:
        case zmtp::SocketType::Pub:
        case zmtp::SocketType::Xpub:
        case zmtp::SocketType::Push:
        case zmtp::SocketType::Pull:
        case zmtp::SocketType::Pair:
            break;
        default:
            return fmt::format("its client socket type {} is not one libzmq's stable API makes",
                               zmtp::socket_type_name(s.client_type));
    }
    if (!sendable(s)) return "its client sent no message and no subscription";
    return {};
}

int run(const Options& o) {
    std::set<uint16_t> ports;
    std::string bad_item;
    if (!tool_setup::parse_ports(o.ports, ports, bad_item)) {
        std::cerr << "zmtp-send: bad --ports " << o.ports << "\n";
        return exit_usage;
    }
    if (!o.dry_run && !valid_endpoint(o.to)) {
        std::cerr << (o.to.empty() ? "zmtp-send: nothing is sent without --to tcp://HOST:PORT "
                                     "(or --dry-run)\n"
                                   : "zmtp-send: --to must be tcp://HOST:PORT\n");
        return exit_usage;
    }
    zmtp::KeyStore keys;
    if (!tool_setup::load_key_files("zmtp-send", o.keylogs, keys)) return exit_unreadable;
    zmtpsend::ScriptOptions script_options{o.captures, o.filter, ports, o.detect, &keys};
    std::vector<zmtpsend::ConnectionScript> scripts;
    std::string error;
    if (!zmtpsend::read_scripts(script_options, scripts, error)) {
        std::cerr << "zmtp-send: " << error << "\n";
        return exit_unreadable;
    }
    std::vector<const zmtpsend::ConnectionScript*> chosen;
    const std::set<uint64_t> wanted(o.connections.begin(), o.connections.end());
    for (uint64_t id : wanted) {
        if (id == 0 || id > scripts.size()) {
            std::cerr << fmt::format("zmtp-send: no connection {} (the captures have {})\n", id,
                                     scripts.size());
            return exit_usage;
        }
    }
    for (const zmtpsend::ConnectionScript& s : scripts) {
        if (!wanted.empty() && !wanted.count(s.id)) continue;
        const std::string why = unsendable_reason(s);
        if (why.empty()) {
            chosen.push_back(&s);
        } else if (!wanted.empty() || s.decrypted == false) {
            std::cerr << fmt::format("zmtp-send: connection {} not sent: {}\n", s.id, why);
        }
    }
    if (chosen.empty()) {
        std::cerr << "zmtp-send: no connection to send\n";
        return exit_unreadable;
    }
    zmtpsend::SendOptions options;
    options.to = o.to;
    options.speed = o.speed;
    options.fast = o.fast;
    options.max_messages = o.max_messages;
    options.duration_s = o.duration;
    options.reply_timeout_s = o.reply_timeout;
    options.connect_timeout_s = o.connect_timeout;
    options.heartbeat_ivl_ms = o.hb_ivl;
    options.heartbeat_ttl_ms = o.hb_ttl;
    options.heartbeat_timeout_ms = o.hb_timeout;
    options.no_heartbeat = o.no_heartbeat;

    std::ofstream file;
    std::ostream* const output = tool_setup::open_output("zmtp-send", o.output, file);
    if (!output) return exit_unreadable;
    std::ostream& out = *output;
    if (o.dry_run) {
        zmtpsend::write_plan(chosen, options, out);
        return exit_ok;
    }
    for (const zmtpsend::ConnectionScript* s : chosen) {
        if (s->mechanism == zmtp::Mechanism::Curve && o.curve_server_key.empty())
            std::cerr << fmt::format(
                "zmtp-send: connection {} used CURVE; sending it with NULL "
                "(--curve-server-key sends it with CURVE)\n",
                s->id);
    }
    std::string client_key_id;
    if (!o.curve_server_key.empty()) {
        zmtpsend::CurveOptions curve;
        if (!curve_options(o, curve)) return exit_usage;
        client_key_id = zmtp::public_key_id(curve.client_public) +
                        (curve.client_generated ? " (generated for this run)" : "");
        options.curve = curve;
    }
    zmtpsend::RunResult result = zmtpsend::run_scripts(chosen, options);
    if (options.curve) sodium_memzero(options.curve->client_secret.data(), 32);
    result.client_key_id = client_key_id;
    if (o.json) {
        out << zmtpsend::to_json(result).dump(2) << "\n";
    } else if (o.csv) {
        zmtpsend::write_csv(result, out);
    } else {
        zmtpsend::write_text(result, out);
    }
    if (!o.html.empty()) {
        std::ofstream html(o.html);
        if (!html) {
            std::cerr << "zmtp-send: cannot write " << o.html << "\n";
            return exit_unreadable;
        }
        zmtpsend::write_html(result, html);
    }
    const int status = zmtpsend::exit_status(result);
    for (const zmtpsend::ConnectionResult& c : result.connections)
        if (c.failure != zmtpsend::Failure::None)
            std::cerr << fmt::format("zmtp-send: connection {}: {}\n", c.id, c.failure_text);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "zmtp-send: sends captured ZMTP client traffic to a live endpoint and compares "
        "the replies"};
    Options o;
    add_options(app, o);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? exit_ok : exit_usage;
    }
    if (sodium_init() < 0) {
        std::cerr << "zmtp-send: libsodium did not start\n";
        return exit_unreadable;
    }
    return run(o);
}
