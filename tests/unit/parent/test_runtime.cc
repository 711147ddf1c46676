// Unit tests for HAProxy admin-socket reply parsing (src/parent/runtime.cc). The
// texts are those haproxy 2.6.12 sent on this machine.
#include "parent/runtime.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <optional>

#include <cstring>

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

static const char* kAddr = "set server b/s addr 10.0.0.2 port 7002";

static void addr_successes(void**) {
    std::string why;
    assert_true(runtime_reply_ok(kAddr,
                                 "IP changed from '127.0.0.1' to '127.0.0.2', no need to change "
                                 "the port by 'stats socket command'",
                                 &why));
    assert_true(runtime_reply_ok(
        kAddr,
        "no need to change the addr, port changed from '7001' to '7002' by 'stats socket command'",
        &why));
    assert_true(runtime_reply_ok(
        kAddr, "no need to change the addr, no need to change the port by 'stats socket command'",
        &why));
    assert_true(runtime_reply_ok(kAddr, "no need to change the addr nor the port", &why));
}

static void addr_errors(void**) {
    const char* errors[] = {"No such server.",
                            "No such backend.",
                            "Require 'backend/server'.",
                            "Permission denied",
                            "Unknown command, but maybe one of the following",
                            ""};
    for (const char* e : errors) {
        std::string why;
        assert_false(runtime_reply_ok(kAddr, e, &why));
        assert_false(why.empty());
        if (*e)
            assert_string_equal(why.c_str(), e);
    }
}

static void action_commands_answer_empty(void**) {
    const char* cmds[] = {"set server b/s state maint", "set server b/s state ready",
                          "shutdown sessions server b/s"};
    for (const char* c : cmds) {
        std::string why;
        assert_true(runtime_reply_ok(c, "", &why));
        assert_false(runtime_reply_ok(c, "No such server.", &why));
        assert_string_equal(why.c_str(), "No such server.");
        assert_false(runtime_reply_ok(c, "No such backend.", &why));
        assert_false(runtime_reply_ok(c, "Require 'backend/server'.", &why));
        assert_false(runtime_reply_ok(c, "Permission denied", &why));
        assert_false(runtime_reply_ok(c, "Unknown command", &why));
        // An addr-style success is not a success for an action command.
        assert_false(runtime_reply_ok(c, "IP changed from 'a' to 'b'", &why));
    }
}

static void splits_non_interactive_output(void**) {
    auto r = split_replies("\n\nno need to change the addr, port changed from '7001' to '7002' by "
                           "'stats socket command'\n\n\n");
    assert_int_equal(r.size(), 4);
    assert_string_equal(r[0].c_str(), "");
    assert_string_equal(r[1].c_str(), "");
    assert_string_equal(r[2].c_str(),
                        "no need to change the addr, port changed from '7001' to '7002' by 'stats "
                        "socket command'");
    assert_string_equal(r[3].c_str(), "");
    r = split_replies("\nNo such server.\n\n\n");
    assert_int_equal(r.size(), 3);
    assert_string_equal(r[1].c_str(), "No such server.");
    r = split_replies("Unknown command, but maybe:\n  a : b\n  c : d\n\n");
    assert_int_equal(r.size(), 1);
    assert_non_null(strstr(r[0].c_str(), "c : d"));
    assert_int_equal(split_replies("").size(), 0);
}

static void switch_sequence_order(void**) {
    auto c = switch_commands("bk", "sv", HostPort{"10.1.2.3", 6380});
    assert_int_equal(c.size(), 4);
    assert_string_equal(c[0].c_str(), "set server bk/sv state maint");
    assert_string_equal(c[1].c_str(), "shutdown sessions server bk/sv");
    assert_string_equal(c[2].c_str(), "set server bk/sv addr 10.1.2.3 port 6380");
    assert_string_equal(c[3].c_str(), "set server bk/sv state ready");
}

static RuntimeResult exchange(const std::string& path, std::chrono::milliseconds timeout) {
    EventBasePtr base{event_base_new()};
    RuntimeClient client(base.get(), path);
    std::optional<RuntimeResult> got;
    client.run({"set server b/s state ready"}, timeout,
               [&](RuntimeResult r) { got = std::move(r); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!got && std::chrono::steady_clock::now() < deadline)
        event_base_loop(base.get(), EVLOOP_ONCE);
    assert_true(got.has_value());
    assert_false(client.busy());
    return *got;
}

static void client_missing_socket(void**) {
    auto r = exchange("/nonexistent/rh-admin.sock", std::chrono::milliseconds(1000));
    assert_false(r.ok);
    if (!strstr(r.error.c_str(), "runtime socket /nonexistent/rh-admin.sock: "))
        fail_msg("error: %s", r.error.c_str());
}

static void client_times_out_on_silent_peer(void**) {
    char dir[] = "/tmp/rh-runtime-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string path = std::string(dir) + "/admin.sock";
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path.c_str());
    assert_int_equal(bind(l, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)), 0);
    assert_int_equal(listen(l, 4), 0); // never accepted, never answered
    auto r = exchange(path, std::chrono::milliseconds(100));
    assert_false(r.ok);
    assert_non_null(strstr(r.error.c_str(), "timed out"));
    close(l);
    unlink(path.c_str());
    rmdir(dir);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addr_successes),
        cmocka_unit_test(addr_errors),
        cmocka_unit_test(action_commands_answer_empty),
        cmocka_unit_test(splits_non_interactive_output),
        cmocka_unit_test(switch_sequence_order),
        cmocka_unit_test(client_missing_socket),
        cmocka_unit_test(client_times_out_on_silent_peer),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
