// Unit tests for rendering, shell quoting and atomic writes (src/parent/haproxy.cc).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "parent/command.h"
#include "parent/haproxy.h"
#include "parent/outfile.h"

#include <cstring>

#include "../../cmocka.h" // last: it defines fail()

using namespace rh;

static const std::string kTmpl = "{{#clusters}}{{name}} {{external_port}} "
                                 "{{#has_master}}{{master_host}}:{{master_port}}{{/has_master}}"
                                 "{{^has_master}}none{{/has_master}} e{{epoch}} "
                                 "{{haproxy_backend}}/{{haproxy_server}}\n{{/clusters}}";

static std::vector<HaproxyCluster> sample() {
    return {
        {"zeta", 7002, HostPort{"10.0.0.2", 6380}, 5, "zb", "zs"},
        {"alpha", 7001, std::nullopt, 0, "ab", "as"},
        {"mid", 7003, HostPort{"2001:db8::1", 6379}, 12, "mb", "ms"},
    };
}

static void renders_sorted_by_name(void**) {
    std::string err;
    auto out = render(kTmpl, sample(), &err);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "alpha 7001 none e0 ab/as\n"
                                      "mid 7003 2001:db8::1:6379 e12 mb/ms\n"
                                      "zeta 7002 10.0.0.2:6380 e5 zb/zs\n");
}

// master_addr: the resolved IP beside the announced host, the host itself
// when that is an IP literal; a skeleton fills it like the other values.
static void master_addr_beside_master_host(void**) {
    const std::string t = "{{#clusters}}{{name}} {{master_host}} {{master_addr}}:{{master_port}}\n"
                          "{{/clusters}}";
    std::vector<HaproxyCluster> cs{
        {"a", 7001, HostPort{"redis-0.redis.ns.svc", 6379}, 3, "ab", "as", "10.1.0.7"},
        {"b", 7002, HostPort{"10.0.0.2", 6380}, 5, "bb", "bs"},
        {"c", 7003, std::nullopt, 0, "cb", "cs"},
    };
    auto out = render(t, cs, nullptr);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "a redis-0.redis.ns.svc 10.1.0.7:6379\n"
                                      "b 10.0.0.2 10.0.0.2:6380\n"
                                      "c  :\n");
    // Only IP-literal masters have a skeleton; its addr placeholder keeps
    // the family, so a move within it fills, and matches a full render.
    std::vector<HaproxyCluster> ips{cs[1], cs[2]};
    auto sk = render_skeleton(t, ips);
    assert_true(sk.has_value());
    ips[0].master = HostPort{"10.0.0.9", 6381};
    auto filled = fill_skeleton(*sk, ips);
    assert_true(filled.has_value());
    assert_string_equal(filled->c_str(), render(t, ips, nullptr)->c_str());
    assert_false(render_skeleton(t, cs).has_value()); // a host name: no skeleton
    auto v6 = ips;
    v6[0].master = HostPort{"2001:db8::9", 6381};
    assert_false(same_shape(ips, v6));
}

static void values_are_verbatim(void**) {
    std::vector<HaproxyCluster> cs{{"a<b>&\"'", 1, HostPort{"h", 2}, 0, "b&", "s<"}};
    auto two = render("{{name}}", {}, nullptr);
    assert_string_equal(two->c_str(), "");
    auto out = render(
        "{{#clusters}}{{name}}|{{{name}}}|{{haproxy_backend}}{{haproxy_server}}{{/clusters}}", cs,
        nullptr);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "a<b>&\"'|a<b>&\"'|b&s<");
}

// Only the names a template's tags mention are put into its data; the
// lookups that could miss by that rule must still find their values.
static void data_holds_what_the_template_asks(void**) {
    HaproxyCluster c{"a", 7001, HostPort{"10.0.0.1", 6379}, 4, "ab", "as"};
    c.replica_backend = "ar";
    c.max_replicas = 2;
    c.replicas = {{{"10.0.0.3", 6381}, "", 1}};
    // Changed delimiters: the tags after {{=...=}} are not {{ }} tags.
    auto out = render("{{=<% %>=}}<%#clusters%><%name%> <%master_host%>:<%master_port%> e<%epoch%>"
                      " <%replica_backend%><%/clusters%>",
                      {c}, nullptr);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "a 10.0.0.1:6379 e4 ar");
    // A name missing in a replica slot is looked up in its cluster.
    out = render("{{#clusters}}{{#replica_slots}}{{name}}/{{server}}/{{external_port}} "
                 "{{/replica_slots}}{{/clusters}}",
                 {c}, nullptr);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "a/replica1/7001 a/replica2/7001 ");
    // Dotted names and triple mustaches.
    out = render("{{#clusters}}{{{haproxy_server}}} {{clusters.0}}{{& haproxy_backend }}"
                 "{{/clusters}}",
                 {c}, nullptr);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "as ab");
}

static void rerender_is_byte_identical(void**) {
    auto a = render(kTmpl, sample(), nullptr);
    auto shuffled = sample();
    std::swap(shuffled[0], shuffled[2]);
    auto b = render(kTmpl, shuffled, nullptr);
    assert_true(a && b);
    assert_true(*a == *b);
}

// What may skip the check: masters moving between IP literals of the same
// family, ports and epochs. Everything else changes the skeleton.
static void skeleton_changes_only_for_shape(void**) {
    auto base = render_skeleton(kTmpl, sample());
    assert_true(base.has_value());
    auto same = [&](std::vector<HaproxyCluster> t) {
        auto k = render_skeleton(kTmpl, std::move(t));
        return k && *k == *base;
    };
    auto moved = sample();
    moved[0].master = HostPort{"10.9.9.9", 7777}; // v4 -> v4, new port
    moved[0].epoch = 6;
    moved[2].master = HostPort{"2001:db8::9", 6400}; // v6 -> v6
    assert_true(same(moved));

    auto v = sample();
    v[0].master = HostPort{"2001:db8::2", 6380}; // v4 -> v6
    assert_false(same(v));
    v = sample();
    v[1].master = HostPort{"10.0.0.3", 6379}; // a master appears
    assert_false(same(v));
    v = sample();
    v[0].master.reset(); // a master goes
    assert_false(same(v));
    v = sample();
    v[0].external_port = 7009;
    assert_false(same(v));
    v = sample();
    v[0].backend = "other";
    assert_false(same(v));
    v = sample();
    v.pop_back(); // a cluster removed
    assert_false(same(v));
    v = sample();
    v[2].name = "aaa"; // renamed, and so reordered
    assert_false(same(v));
    auto other = render_skeleton(kTmpl + "# changed\n", sample());
    assert_true(other && *other != *base);
    // A host name can be refused by HAProxy's resolver: never skipped.
    v = sample();
    v[0].master = HostPort{"redis-0.example", 6380};
    assert_false(render_skeleton(kTmpl, v).has_value());
    assert_false(render_skeleton("{{#clusters}", sample()).has_value());
}

// The Applier's fast path: the skeleton of a shape filled in with a
// topology's values is that topology's rendering, and same_shape holds
// exactly when the skeletons are equal.
static void filled_skeleton_is_the_rendering(void**) {
    auto base = render_skeleton(kTmpl, sample());
    assert_true(base.has_value());
    auto moved = sample();
    moved[0].master = HostPort{"10.9.9.9", 7777};
    moved[0].epoch = 6;
    moved[1].epoch = 3; // no master, new epoch
    moved[2].master = HostPort{"2001:db8::9", 6400};
    assert_true(same_shape(sample(), moved));
    for (const auto& t : {sample(), moved}) {
        auto filled = fill_skeleton(*base, t);
        auto rendered = render(kTmpl, t, nullptr);
        assert_true(filled && rendered);
        assert_string_equal(filled->c_str(), rendered->c_str());
    }
    auto v = sample();
    v[0].master = HostPort{"2001:db8::2", 6380}; // another family: another shape
    assert_false(same_shape(sample(), v));
    v = sample();
    v[1].master = HostPort{"10.0.0.3", 6379};
    assert_false(same_shape(sample(), v));
    v = sample();
    v[0].server = "other";
    assert_false(same_shape(sample(), v));
    v = sample();
    v.pop_back();
    assert_false(same_shape(sample(), v));
    // A topology of another shape (fewer clusters, a master where the
    // skeleton has none) is not filled in: the caller renders.
    assert_false(fill_skeleton(*base, v).has_value());
    v = sample();
    v[1].master = HostPort{"10.0.0.3", 6379};
    v[0].master.reset();
    assert_false(fill_skeleton(*base, v).has_value());
    // A template holding a placeholder delimiter has no skeleton.
    assert_false(render_skeleton("\x01host0v4\x02" + kTmpl, sample()).has_value());
}

static void parse_errors_are_reported(void**) {
    std::string err;
    assert_true(check_template(kTmpl, &err));
    assert_false(check_template("{{#clusters}}x", &err));
    assert_non_null(strstr(err.c_str(), "template: "));
    assert_non_null(strstr(err.c_str(), "clusters"));
    err.clear();
    assert_false(render("{{#a}}{{/b}}", sample(), &err).has_value());
    assert_false(err.empty());
    assert_false(check_template("{{unterminated", &err));
}

static void shell_quoting(void**) {
    assert_string_equal(shell_quote("a b").c_str(), "'a b'");
    assert_string_equal(shell_quote("it's").c_str(), "'it'\\''s'");
    assert_string_equal(shell_quote("$(x);`y`").c_str(), "'$(x);`y`'");
    assert_string_equal(substitute_path("haproxy -c -f %s", "/t/x y").c_str(),
                        "haproxy -c -f '/t/x y'");
    assert_string_equal(substitute_path("a %s b %s 100%%", "p").c_str(), "a 'p' b 'p' 100%");
    assert_string_equal(substitute_path("trailing %", "p").c_str(), "trailing %");
    assert_string_equal(substitute_path("no placeholder", "p").c_str(), "no placeholder");
}

static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

static int count_entries(const std::string& dir) {
    std::string cmd = "ls -A '" + dir + "' | wc -l";
    FILE* f = popen(cmd.c_str(), "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

static void atomic_write_in_private_dir(void**) {
    char dir[] = "/tmp/rh-haproxy-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    std::string out = std::string(dir) + "/haproxy.cfg";
    std::string err;

    assert_false(file_has_content(out, "x")); // missing file
    assert_true(write_file_atomic(out, "first\n", &err));
    struct stat st {};
    assert_int_equal(stat(out.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_true(file_has_content(out, "first\n"));
    assert_false(file_has_content(out, "first"));
    assert_false(file_has_content(out, "first\nmore"));

    // Mode of an existing file is kept.
    assert_int_equal(chmod(out.c_str(), 0640), 0);
    {
        auto pf = PendingFile::create(out, "second\n", &err);
        assert_true(pf.has_value());
        assert_true(pf->temp_path().rfind(std::string(dir) + "/", 0) == 0);
        assert_string_equal(slurp(out).c_str(), "first\n"); // not yet replaced
        assert_true(pf->commit(&err));
    }
    assert_int_equal(stat(out.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_string_equal(slurp(out).c_str(), "second\n");

    // A discarded candidate leaves no trace.
    {
        auto pf = PendingFile::create(out, "third\n", &err);
        assert_true(pf.has_value());
        assert_int_equal(count_entries(dir), 2);
        pf->discard();
        assert_int_equal(count_entries(dir), 1);
    }
    { auto pf = PendingFile::create(out, "fourth\n", &err); } // destructor discards
    assert_int_equal(count_entries(dir), 1);
    assert_string_equal(slurp(out).c_str(), "second\n");

    // Errors name the path.
    std::string bad = std::string(dir) + "/missing-dir/haproxy.cfg";
    assert_false(write_file_atomic(bad, "x", &err));
    assert_non_null(strstr(err.c_str(), "missing-dir"));
    assert_non_null(strstr(err.c_str(), "No such file"));

    unlink(out.c_str());
    rmdir(dir);
}

// The read backend in the template: `replicas` (filled slots), every slot
// in `replica_slots`, and the slots' server names.
static void read_backend_data(void**) {
    const std::string t =
        "{{#clusters}}{{#has_replica_backend}}{{replica_backend}} "
        "{{#has_replicas}}has {{/has_replicas}}"
        "[{{#replicas}}{{server}}={{host}}:{{port}}/{{addr}}/{{slot}} {{/replicas}}]"
        "{{#replica_slots}}{{server}}{{^has_replica}}-{{/has_replica}}{{#has_replica}}+{{/"
        "has_replica}} {{/replica_slots}}{{/has_replica_backend}}\n{{/clusters}}";
    HaproxyCluster c{"a", 7001, HostPort{"10.0.0.1", 6379}, 1, "ab", "as"};
    c.replica_backend = "ar";
    c.max_replicas = 3;
    c.replicas = {{{"10.0.0.3", 6381}, "", 2}, {{"r.example", 6380}, "10.0.0.2", 0}};
    std::string err;
    auto out = render(t, {c}, &err);
    assert_true(out.has_value());
    assert_string_equal(out->c_str(), "ar has [replica1=r.example:6380/10.0.0.2/1 "
                                      "replica3=10.0.0.3:6381/10.0.0.3/3 ]"
                                      "replica1+ replica2- replica3+ \n");
    c.replicas.clear();
    out = render(t, {c}, &err);
    assert_string_equal(out->c_str(), "ar []replica1- replica2- replica3- \n");
    c.replica_backend.clear();
    out = render(t, {c}, &err);
    assert_string_equal(out->c_str(), ""); // a line of standalone section tags
}

// A replica change changes the shape (so the check runs for it); the
// filled skeleton is still the rendering.
static void replicas_are_part_of_the_shape(void**) {
    HaproxyCluster a{"a", 7001, HostPort{"10.0.0.1", 6379}, 1, "ab", "as"};
    a.replica_backend = "ar";
    HaproxyCluster b = a;
    b.replicas = {{{"10.0.0.2", 6380}, "", 0}};
    assert_false(same_shape({a}, {b}));
    HaproxyCluster c = b;
    c.master = HostPort{"10.0.0.9", 6379};
    assert_true(same_shape({b}, {c}));
    const std::string t = "{{#clusters}}{{master_host}} {{#replicas}}{{addr}}:{{port}} "
                          "{{/replicas}}\n{{/clusters}}";
    auto sk = render_skeleton(t, {b});
    assert_true(sk.has_value());
    auto filled = fill_skeleton(*sk, {c});
    assert_true(filled.has_value());
    assert_string_equal(filled->c_str(), render(t, {c}, nullptr)->c_str());
}

// The key the Applier keeps instead of a copy of the topology: equal
// exactly when the shapes are, with no field able to run into the next
// (a name's end read as a backend's start), and no value in it.
static void shape_key_is_the_shape(void**) {
    auto moved = sample();
    moved[0].master = HostPort{"10.9.9.9", 7777};
    moved[0].epoch = 99;
    assert_true(shape_key(sample()) == shape_key(moved));
    auto a = sample(), b = sample();
    a[0].name = "ab";
    a[0].backend = "c";
    b[0].name = "a";
    b[0].backend = "bc";
    assert_false(shape_key(a) == shape_key(b));
    assert_false(same_shape(a, b));
    b = sample();
    b[0].replica_port = 7100;
    assert_false(shape_key(sample()) == shape_key(b));
    b = sample();
    b[0].max_replicas = 3;
    assert_false(shape_key(sample()) == shape_key(b));
    b = sample();
    b[0].replicas.push_back(proto::ReplicaAt{{"10.0.0.7", 6379}, "", 0});
    auto c = b;
    c[0].replicas[0].slot = 1;
    assert_false(shape_key(b) == shape_key(c));
    assert_false(shape_key(sample()) == shape_key(b));
    assert_true(shape_key({}) != shape_key(sample()));
    // The comparison without a key built: the whole key, no more, no less.
    auto key = shape_key(sample());
    assert_true(has_shape_key(moved, key));
    assert_false(has_shape_key(b, key));
    assert_false(has_shape_key(sample(), key + "x"));
    assert_false(has_shape_key(sample(), key.substr(0, key.size() - 1)));
    assert_false(has_shape_key(sample(), ""));
    assert_true(has_shape_key({}, shape_key({})));
}

static void replica_runtime_commands(void**) {
    using R = proto::ReplicaAt;
    std::vector<R> from = {R{{"10.0.0.2", 6380}, "", 0}, R{{"10.0.0.3", 6381}, "", 1}};
    std::vector<R> to = {R{{"10.0.0.2", 6380}, "", 0}, R{{"r.example", 6382}, "10.0.0.4", 2}};
    auto cmds = replica_commands("rb", from, to);
    std::vector<std::string> want = {
        "set server rb/replica2 state maint",
        "shutdown sessions server rb/replica2",
        "set server rb/replica3 state maint",
        "shutdown sessions server rb/replica3",
        "set server rb/replica3 addr 10.0.0.4 port 6382",
        "set server rb/replica3 state ready",
    };
    assert_int_equal(cmds.size(), want.size());
    for (size_t i = 0; i < want.size(); i++)
        assert_string_equal(cmds[i].c_str(), want[i].c_str());
    assert_true(replica_commands("rb", from, from).empty());
    assert_int_equal(replica_commands("rb", {}, from).size(), 8);
    assert_int_equal(replica_commands("rb", from, {}).size(), 4);
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_backend_data),
        cmocka_unit_test(replicas_are_part_of_the_shape),
        cmocka_unit_test(replica_runtime_commands),
        cmocka_unit_test(renders_sorted_by_name),
        cmocka_unit_test(values_are_verbatim),
        cmocka_unit_test(data_holds_what_the_template_asks),
        cmocka_unit_test(rerender_is_byte_identical),
        cmocka_unit_test(skeleton_changes_only_for_shape),
        cmocka_unit_test(master_addr_beside_master_host),
        cmocka_unit_test(filled_skeleton_is_the_rendering),
        cmocka_unit_test(shape_key_is_the_shape),
        cmocka_unit_test(parse_errors_are_reported),
        cmocka_unit_test(shell_quoting),
        cmocka_unit_test(atomic_write_in_private_dir),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
