// Unit tests for the engine's decision glue (src/engine/decide.cc), under a
// fake clock with fake Sentinel links, ROLE checks, parent and Consul.
// C++ headers first: cmocka defines a fail() macro that clashes with <ios>.
#include <algorithm>
#include <string>

#include "engine/confirm.h"
#include "engine/decide.h"
#include "engine/sentinel.h"

#include "../../cmocka.h"

using namespace rh;
using Millis = std::chrono::milliseconds;

namespace {

const std::string C = "mymaster";
const HostPort S1{"127.0.0.1", 26379}, S2{"127.0.0.1", 26380}, S3{"127.0.0.1", 26381};
const HostPort D1{"127.0.0.1", 26391}, D2{"127.0.0.1", 26392}; // discovered
const std::string S1id = "127.0.0.1:26379", S2id = "127.0.0.1:26380", S3id = "127.0.0.1:26381";
const std::string D1id = "127.0.0.1:26391", D2id = "127.0.0.1:26392";
const HostPort A{"10.0.0.1", 6379};
const HostPort B{"10.0.0.2", 6379};

struct Read {
    std::string sentinel, cluster;
    ReadFreshness freshness;
    std::optional<HostPort> announced;
};

struct RoleCheck {
    std::string cluster;
    HostPort candidate;
    DeciderHooks::RoleDone done;
};

// Records everything the decider asks of the outside world.
struct World {
    TopologyTime now = TopologyTime{} + std::chrono::hours(1);
    std::time_t wall = 1700000000;
    std::vector<std::string> opened;
    std::vector<std::string> given_secrets; // links opened with trusted = true
    std::vector<Read> reads;
    std::vector<RoleCheck> roles;
    std::vector<std::pair<std::string, Millis>> retries;
    std::vector<proto::Master> announced;
    std::vector<std::pair<std::string, HostPort>> published;
    std::vector<uint64_t> published_epochs; // the epoch of each publication
    int changed = 0;
    // The read backend's requests and what it told the parent.
    struct Probe {
        HostPort master;
        std::vector<HostPort> replicas;
        DeciderHooks::ProbeDone done;
    };
    std::vector<Probe> probes;
    std::vector<std::string> replica_reads; // Sentinel ids asked SENTINEL REPLICAS
    std::vector<proto::Replicas> read_backends;

    DeciderHooks hooks() {
        DeciderHooks h;
        h.now = [this] { return now; };
        h.wall = [this] { return wall; };
        h.open_link = [this](const std::string& id, const HostPort&, bool trusted) {
            opened.push_back(id);
            if (trusted)
                given_secrets.push_back(id);
        };
        h.read_master = [this](const std::string& id, const std::string& c, ReadFreshness f,
                               const HostPort* announced) {
            reads.push_back(
                {id, c, f, announced ? std::optional<HostPort>(*announced) : std::nullopt});
        };
        h.check_role = [this](const EngineCluster& c, const HostPort& cand,
                              DeciderHooks::RoleDone done) {
            roles.push_back({c.name, cand, std::move(done)});
        };
        h.arm_retry = [this](const std::string& c, Millis d) { retries.emplace_back(c, d); };
        h.announce = [this](const proto::Master& m) {
            announced.push_back(m);
            return true;
        };
        h.publish = [this](const EngineCluster& c, const HostPort& m, uint64_t epoch) {
            published.emplace_back(c.name, m);
            published_epochs.push_back(epoch);
        };
        h.changed = [this] { changed++; };
        h.read_replicas = [this](const std::string& id, const std::string&) {
            replica_reads.push_back(id);
        };
        h.probe_replicas = [this](const EngineCluster&, const HostPort& master,
                                  const std::vector<HostPort>& reps, DeciderHooks::ProbeDone done) {
            probes.push_back({master, reps, std::move(done)});
        };
        h.announce_replicas = [this](const proto::Replicas& r) {
            read_backends.push_back(r);
            return true;
        };
        return h;
    }

    // Answers the latest ROLE check.
    void answer(ConfirmResult::Role role, std::string detail = "") {
        assert_false(roles.empty());
        RoleCheck rc = roles.back();
        rc.done(rc.candidate, ConfirmResult{role, std::move(detail)});
    }

    size_t reads_of(const std::string& sentinel, ReadFreshness f) const {
        return std::count_if(reads.begin(), reads.end(), [&](const Read& r) {
            return r.sentinel == sentinel && r.cluster == C && r.freshness == f;
        });
    }
};

std::unique_ptr<Decider> make(World& w, unsigned min_agreement = 2, bool trust_discovered = false,
                              size_t max_discovered = 16, uint64_t max_lag = 0) {
    DeciderSettings s;
    s.policy.min_agreement = min_agreement;
    s.trust_discovered = trust_discovered;
    s.max_discovered = max_discovered;
    s.backoff_max = Millis(1000);
    proto::ConfigCluster c;
    c.name = C;
    c.external_port = 6380;
    if (max_lag) {
        c.replica_backend = "read";
        c.max_replicas = 2;
        c.lag_limited = true;
        c.max_replica_lag = max_lag;
    }
    auto d = std::make_unique<Decider>(s, ClusterTable({c}, false), w.hooks());
    for (auto& addr : {S1, S2, S3})
        d->add_sentinel(addr, true);
    return d;
}

void report(Decider& d, const std::string& sentinel, const HostPort& addr, uint64_t epoch) {
    sentinel::MasterInfo m;
    m.name = C;
    m.addr = addr;
    m.config_epoch = epoch;
    d.on_master_info(sentinel, m);
}

// S1 and S2 newly agree on (addr, epoch): exactly one ROLE check of addr.
void corroborate(Decider& d, World& w, const HostPort& addr, uint64_t epoch) {
    size_t checks = w.roles.size();
    report(d, S1id, addr, epoch);
    report(d, S2id, addr, epoch);
    assert_int_equal(w.roles.size(), checks + 1);
    assert_true(w.roles.back().candidate == addr);
    assert_string_equal(w.roles.back().cluster.c_str(), C.c_str());
}

// Makes `addr` the announced master at `epoch` (S1 and S2 agree, ROLE master).
// What the parent says once HAProxy has addr.
void applied(Decider& d, const HostPort& addr, uint64_t epoch) {
    assert_true(
        d.on_apply_result(proto::ApplyResult{C, proto::ApplyState::Applied, addr, epoch, 100, ""}));
}

void establish(Decider& d, World& w, const HostPort& addr, uint64_t epoch) {
    corroborate(d, w, addr, epoch);
    w.answer(ConfirmResult::Role::master);
    assert_true(w.announced.back() == (proto::Master{C, addr, epoch, false, addr.host}));
    applied(d, addr, epoch);
}

ApiCluster only_cluster(const std::vector<ApiCluster>& v) {
    assert_int_equal(v.size(), 1);
    return v[0];
}

// What the parent reports after a switch, with the path it took.
void applied_by(Decider& d, const HostPort& addr, uint64_t epoch, proto::ApplyPath path) {
    assert_true(d.on_apply_result(
        proto::ApplyResult{C, proto::ApplyState::Applied, addr, epoch, 100, "", path}));
}

} // namespace

// From the first +switch-master to the parent's Applied for the new master,
// by the path the parent took; the initial master is not a switch.
static void propagation_is_measured_from_the_first_sign(void**) {
    World w;
    auto d = make(w);
    corroborate(*d, w, A, 1);
    w.answer(ConfirmResult::Role::master);
    applied_by(*d, A, 1, proto::ApplyPath::Reload); // the first master: not observed
    assert_int_equal(d->propagation(proto::ApplyPath::Reload).count, 0);
    assert_int_equal(d->propagation(proto::ApplyPath::Runtime).count, 0);

    d->on_event(S3id, sentinel::SwitchMaster{C, A, B});
    w.now += Millis(3);
    corroborate(*d, w, B, 2);
    w.now += Millis(1);
    w.answer(ConfirmResult::Role::master);
    w.now += Millis(1);
    applied_by(*d, B, 2, proto::ApplyPath::Runtime);
    const ApiHistogram& h = d->propagation(proto::ApplyPath::Runtime);
    assert_int_equal(h.count, 1);
    assert_true(h.sum > 0.0049 && h.sum < 0.0051);
    assert_int_equal(h.buckets[2], 1); // le 0.005
    assert_int_equal(d->propagation(proto::ApplyPath::Reload).count, 0);
    // The same result again (a replay) is not a second switch.
    applied_by(*d, B, 2, proto::ApplyPath::None);
    assert_int_equal(h.count, 1);

    // A lagging Sentinel still naming the old master at its old epoch is
    // no sign of a switch.
    report(*d, S3id, A, 1);
    // A report of another master at a higher epoch starts the clock; the
    // reload path.
    w.now += std::chrono::seconds(10);
    report(*d, S1id, A, 3);
    w.now += std::chrono::milliseconds(100);
    report(*d, S2id, A, 3);
    w.answer(ConfirmResult::Role::master);
    w.now += std::chrono::milliseconds(150);
    applied_by(*d, A, 3, proto::ApplyPath::Reload);
    const ApiHistogram& r = d->propagation(proto::ApplyPath::Reload);
    assert_int_equal(r.count, 1);
    assert_true(r.sum > 0.249 && r.sum < 0.251);
    assert_int_equal(r.buckets[7], 1); // le 0.25
}

// A sign that is not followed by a switch within kPropagationLimit is
// forgotten; an apply without a HAProxy action (path none) is not observed.
static void propagation_ignores_old_signs_and_path_none(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    d->on_event(S3id, sentinel::SwitchMaster{C, A, B}); // forged or outdated
    w.now += kPropagationLimit + std::chrono::seconds(30);
    d->on_event(S3id, sentinel::SwitchMaster{C, A, B}); // the real one, much later
    w.now += Millis(2);
    corroborate(*d, w, B, 2);
    w.answer(ConfirmResult::Role::master);
    applied_by(*d, B, 2, proto::ApplyPath::Runtime);
    const ApiHistogram& h = d->propagation(proto::ApplyPath::Runtime);
    assert_int_equal(h.count, 1);
    assert_true(h.sum < 0.01);

    d->on_event(S3id, sentinel::SwitchMaster{C, B, A});
    corroborate(*d, w, A, 3);
    w.answer(ConfirmResult::Role::master);
    applied_by(*d, A, 3, proto::ApplyPath::None); // no [haproxy]
    assert_int_equal(h.count, 1);
    assert_int_equal(d->propagation(proto::ApplyPath::Reload).count, 0);
}

// Stale: no trusted re-read within stale_after (15 s by default), or no
// trusted reachable Sentinel reporting the cluster.
static void stale_and_last_reread(void**) {
    World w;
    auto d = make(w);
    ApiCluster c = only_cluster(d->view_clusters());
    assert_true(c.stale); // nothing read yet
    assert_int_equal(c.last_reread, 0);
    establish(*d, w, A, 1);
    c = only_cluster(d->view_clusters());
    assert_false(c.stale);
    assert_int_equal(c.last_reread, w.wall);
    w.now += std::chrono::seconds(14);
    w.wall += 14;
    assert_false(only_cluster(d->view_clusters()).stale);
    w.now += std::chrono::seconds(2);
    w.wall += 2;
    c = only_cluster(d->view_clusters());
    assert_true(c.stale);
    assert_int_equal(c.last_reread, w.wall - 16);
    report(*d, S3id, A, 1); // a trusted re-read
    c = only_cluster(d->view_clusters());
    assert_false(c.stale);
    assert_int_equal(c.last_reread, w.wall);
    // An untrusted Sentinel's report is no re-read.
    d->add_sentinel(D1, false);
    w.now += std::chrono::seconds(20);
    w.wall += 20;
    report(*d, D1id, A, 1);
    assert_true(only_cluster(d->view_clusters()).stale);
}

static void apply_errors_by_reason(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    for (auto reason :
         {proto::ApplyError::Check, proto::ApplyError::Check, proto::ApplyError::Reload})
        assert_true(d->on_apply_result(proto::ApplyResult{
            C, proto::ApplyState::Error, A, 1, 100, "failed", proto::ApplyPath::None, reason}));
    ApiCluster c = only_cluster(d->view_clusters());
    assert_int_equal(c.apply_errors, 3);
    assert_int_equal(c.apply_errors_by[static_cast<size_t>(proto::ApplyError::Check)], 2);
    assert_int_equal(c.apply_errors_by[static_cast<size_t>(proto::ApplyError::Reload)], 1);
    assert_int_equal(c.apply_errors_by[static_cast<size_t>(proto::ApplyError::Render)], 0);
}

static void configured_sentinels_are_opened_once(void**) {
    World w;
    auto d = make(w);
    d->add_sentinel(S2, true);
    assert_int_equal(w.opened.size(), 3);
    assert_string_equal(w.opened[0].c_str(), S1id.c_str());
    assert_true(d->sentinel(S1id)->configured);
    assert_true(d->sentinel(S1id)->trusted);
}

static void one_sentinel_never_moves_the_master(void**) {
    World w;
    auto d = make(w);
    report(*d, S1id, A, 1);
    assert_true(w.roles.empty()); // not even a first master from one Sentinel
    // ...but the other trusted Sentinels are asked at once
    assert_int_equal(w.reads_of(S2id, ReadFreshness::in_flight_ok), 1);
    assert_int_equal(w.reads_of(S3id, ReadFreshness::in_flight_ok), 1);
    assert_int_equal(w.reads_of(S1id, ReadFreshness::in_flight_ok), 0);

    report(*d, S2id, A, 1);
    w.answer(ConfirmResult::Role::master);
    assert_int_equal(w.announced.size(), 1);

    size_t checks = w.roles.size();
    w.reads.clear();
    report(*d, S3id, B, 2);
    report(*d, S3id, B, 2); // repeating itself does not help
    assert_int_equal(w.roles.size(), checks);
    assert_int_equal(w.announced.size(), 1);
    assert_true(d->topology().state(C)->master == A);
    // S3's news was corroborated once, with S1 and S2, not with S3 itself
    assert_int_equal(w.reads.size(), 2);
    assert_int_equal(w.reads_of(S1id, ReadFreshness::in_flight_ok), 1);
    assert_int_equal(w.reads_of(S2id, ReadFreshness::in_flight_ok), 1);
}

static void two_sentinels_and_role_master_announce_once(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    corroborate(*d, w, B, 2);
    size_t checks = w.roles.size();
    report(*d, S3id, B, 2); // more support while asking: no second check
    assert_int_equal(w.roles.size(), checks);
    assert_int_equal(w.announced.size(), 1); // nothing before ROLE answers

    w.now += std::chrono::seconds(5);
    w.answer(ConfirmResult::Role::master);
    assert_int_equal(w.announced.size(), 2);
    assert_true(w.announced[1] == (proto::Master{C, B, 2, false, B.host}));
    // Consul follows HAProxy: nothing until the parent applied B.
    assert_int_equal(w.published.size(), 1);
    applied(*d, A, 1); // a late result for the old master publishes nothing
    assert_int_equal(w.published.size(), 1);
    applied(*d, B, 2);
    assert_int_equal(w.published.size(), 2);
    assert_true(w.published[1].second == B);
    assert_int_equal(w.published_epochs[1], 2); // fences older views in Consul
    applied(*d, B, 2);                          // said again: Consul is not told twice
    assert_int_equal(w.published.size(), 2);

    // the same facts again change nothing
    report(*d, S1id, B, 2);
    report(*d, S2id, B, 2);
    d->evaluate_all();
    assert_int_equal(w.announced.size(), 2);
    assert_int_equal(w.roles.size(), checks);

    ApiCluster c = only_cluster(d->view_clusters());
    assert_true(c.master == B);
    assert_int_equal(c.epoch, 2);
    assert_true(c.confirmed);
    assert_int_equal(c.switches, 2);
    assert_int_equal(c.confirmed_at, w.wall);
    assert_int_equal(c.corroborated_by.size(), 3);
}

namespace {

sentinel::ReplicaInfo replica_at(const HostPort& hp, std::vector<std::string> flags = {"slave"}) {
    return sentinel::ReplicaInfo{hp, std::move(flags), "ok", std::nullopt};
}

ReplicaProbe::One answer_of(const HostPort& hp, const HostPort& master, uint64_t offset,
                            std::string role = "slave") {
    return {hp, sentinel::RoleInfo{std::move(role), offset, master, "connected"}, ""};
}

} // namespace

// The read backend: only trusted Sentinels' lists count, each candidate is
// asked ROLE against the announced master, lag over the limit leaves, and
// a new master empties it until a round against that master.
static void read_backend_follows_trusted_sentinels_and_role(void**) {
    World w;
    auto d = make(w, 2, false, 16, 100);
    establish(*d, w, A, 1);
    // Announcing a master with no replica reported yet: an empty backend.
    assert_int_equal(w.read_backends.size(), 1);
    assert_true(w.read_backends[0].replicas.empty());
    w.read_backends.clear();
    const HostPort R1{"10.0.0.11", 6379}, R2{"10.0.0.12", 6379};
    d->on_discovered(C, {sentinel::SentinelInfo{D1, "r1", {}}});
    // An untrusted Sentinel never adds a replica.
    d->on_replicas(D1id, C, {replica_at(R1), replica_at(R2)});
    assert_true(w.probes.empty());
    assert_true(only_cluster(d->view_clusters()).replicas.empty());
    // A trusted one does; one it says is down is not even asked.
    d->on_replicas(S1id, C, {replica_at(R1), replica_at(R2, {"slave", "s_down"})});
    assert_int_equal(w.probes.size(), 1);
    assert_true(w.probes[0].master == A);
    assert_int_equal(w.probes[0].replicas.size(), 1);
    assert_true(w.probes[0].replicas[0] == R1);
    // More news while the round is out: one more round after it.
    d->on_replicas(S2id, C, {replica_at(R1), replica_at(R2)});
    assert_int_equal(w.probes.size(), 1);
    w.probes[0].done(ReplicaProbe{A, 1000, {answer_of(R1, A, 950)}});
    assert_int_equal(w.read_backends.size(), 1);
    assert_int_equal(w.read_backends[0].replicas.size(), 1);
    assert_true(w.read_backends[0].replicas[0].replica == R1);
    assert_int_equal(w.read_backends[0].replicas[0].slot, 0);
    assert_int_equal(w.probes.size(), 2); // the round owed; S1 still says R2 is down
    assert_int_equal(w.probes[1].replicas.size(), 1);
    // The same answer tells the parent nothing new; lag over 100 bytes,
    // a replica of another master, or a promoted one: out.
    w.probes[1].done(ReplicaProbe{A, 1000, {answer_of(R1, A, 990)}});
    assert_int_equal(w.read_backends.size(), 1);
    d->on_replicas(S1id, C, {replica_at(R1), replica_at(R2)});
    assert_int_equal(w.probes.size(), 3);
    w.probes[2].done(ReplicaProbe{A, 1000, {answer_of(R1, A, 899), answer_of(R2, A, 1000)}});
    assert_int_equal(w.read_backends.size(), 2);
    assert_int_equal(w.read_backends[1].replicas.size(), 1);
    assert_true(w.read_backends[1].replicas[0].replica == R2);
    assert_int_equal(w.read_backends[1].replicas[0].slot, 0); // the lowest free slot
    d->on_replicas(S1id, C, {replica_at(R1), replica_at(R2)});
    w.probes.back().done(
        ReplicaProbe{A, 1000, {answer_of(R1, B, 1000), answer_of(R2, A, 0, "master")}});
    assert_int_equal(w.read_backends.size(), 3);
    assert_true(w.read_backends[2].replicas.empty());
    // The master's offset unknown with a lag limit: not shown.
    d->on_replicas(S1id, C, {replica_at(R1)});
    w.probes.back().done(ReplicaProbe{A, std::nullopt, {answer_of(R1, A, 1000)}});
    assert_int_equal(w.read_backends.size(), 3);

    // A replica event re-reads the trusted Sentinels' lists only.
    sentinel::InstanceEvent ev{"+sdown", "slave", "10.0.0.11:6379", R1, C, A, ""};
    w.replica_reads.clear();
    d->on_event(D1id, ev);
    assert_int_equal(w.replica_reads.size(), 3);
    for (const auto& id : w.replica_reads)
        assert_true(id != D1id);

    // R2 is promoted: every round is against the new master B, and B is
    // never a candidate though the Sentinels still list it.
    size_t rounds = w.probes.size();
    corroborate(*d, w, R2, 2);
    w.answer(ConfirmResult::Role::master);
    assert_true(w.announced.back() == (proto::Master{C, R2, 2, false, R2.host}));
    assert_true(w.probes.size() > rounds);
    assert_true(w.probes.back().master == R2);
    for (const auto& hp : w.probes.back().replicas)
        assert_true(hp != R2);
    w.probes.back().done(ReplicaProbe{R2, 5, {answer_of(R1, R2, 5)}});
    assert_true(w.read_backends.back().replicas.size() == 1);
    assert_true(w.read_backends.back().replicas[0].replica == R1);
    ApiCluster c = only_cluster(d->view_clusters());
    assert_string_equal(c.read_backend.c_str(), "read");
    assert_int_equal(c.read_servers.size(), 1);
    assert_true(c.read_servers[0].addr == R1);
}

static void role_slave_is_never_announced(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    corroborate(*d, w, B, 2);
    w.answer(ConfirmResult::Role::not_master, "slave");
    assert_int_equal(w.retries.size(), 1);
    assert_true(w.retries[0] == std::make_pair(C, Millis(100)));
    // while the retry waits, new reports do not ask again
    size_t checks = w.roles.size();
    report(*d, S3id, B, 2);
    assert_int_equal(w.roles.size(), checks);

    for (Millis expect : {Millis(200), Millis(400), Millis(800), Millis(1000), Millis(1000)}) {
        d->retry_due(C);
        assert_int_equal(w.roles.size(), ++checks);
        assert_true(w.roles.back().candidate == B);
        w.answer(ConfirmResult::Role::not_master, "slave");
        assert_true(w.retries.back().second == expect); // doubling, capped
    }
    assert_int_equal(w.announced.size(), 1);
    assert_true(d->topology().state(C)->master == A);
    assert_string_equal(d->topology().state(C)->last_confirm_error.c_str(),
                        "10.0.0.2:6379 at epoch 2: not master: slave");
}

static void untrusted_sentinels_alone_cannot_move_it(void**) {
    World w;
    auto d = make(w, 1);
    establish(*d, w, A, 1);
    d->on_discovered(C,
                     {sentinel::SentinelInfo{D1, "r1", {}}, sentinel::SentinelInfo{D2, "r2", {}}});
    assert_int_equal(w.opened.size(), 5);
    assert_false(d->sentinel(D1id)->trusted);
    assert_false(d->sentinel(D1id)->configured);

    size_t checks = w.roles.size();
    w.reads.clear();
    report(*d, D1id, B, 9);
    report(*d, D2id, B, 9);
    assert_int_equal(w.roles.size(), checks);
    assert_int_equal(w.announced.size(), 1);
    // what they say only makes us ask the trusted ones, never each other
    assert_int_equal(w.reads.size(), 6);
    assert_int_equal(w.reads_of(S3id, ReadFreshness::in_flight_ok), 2);
    assert_int_equal(w.reads_of(D1id, ReadFreshness::in_flight_ok), 0);
    assert_int_equal(w.reads_of(D2id, ReadFreshness::in_flight_ok), 0);
    // a discovered Sentinel becomes trusted only when told so
    World w2;
    auto trusting = make(w2, 1, true);
    trusting->add_sentinel(D1, false);
    assert_true(trusting->sentinel(D1id)->trusted);
}

// The configured secrets go to configured Sentinels only, unless
// trust_discovered; and only max_discovered discovered ones are followed.
static void secrets_and_links_for_discovered_sentinels(void**) {
    World w;
    auto d = make(w, 2, false, 1);
    d->on_discovered(C,
                     {sentinel::SentinelInfo{D1, "r1", {}}, sentinel::SentinelInfo{D2, "r2", {}}});
    assert_int_equal(w.opened.size(), 4); // S1-S3, and D1 only: the cap is 1
    assert_null(d->sentinel(D2id));
    assert_int_equal(w.given_secrets.size(), 3);
    for (auto& id : w.given_secrets)
        assert_true(id == S1id || id == S2id || id == S3id);
    // a forgotten discovered Sentinel makes room for another
    d->forget_sentinel(D1id);
    sentinel::InstanceEvent hello;
    hello.channel = "+sentinel";
    hello.kind = "sentinel";
    hello.addr = D2;
    hello.master = C;
    d->on_event(S1id, hello);
    assert_non_null(d->sentinel(D2id));

    World w2;
    auto trusting = make(w2, 2, true);
    trusting->add_sentinel(D1, false);
    assert_int_equal(w2.given_secrets.size(), 4); // trust_discovered: D1 too
    // a discovered Sentinel named by a host name is never opened (a blocking
    // lookup on the loop); a configured one may be
    trusting->add_sentinel(HostPort{"slow.example", 26379}, false);
    assert_int_equal(w2.opened.size(), 4);
    assert_null(trusting->sentinel("slow.example:26379"));
}

static void switch_master_rereads_every_trusted_sentinel(void**) {
    World w;
    auto d = make(w);
    d->add_sentinel(D1, false);
    d->on_event(D1id, sentinel::SwitchMaster{C, A, B});
    for (auto& id : {S1id, S2id, S3id})
        assert_int_equal(w.reads_of(id, ReadFreshness::after_now), 1);
    assert_int_equal(w.reads_of(D1id, ReadFreshness::after_now), 0);
    assert_true(w.roles.empty()); // a hint, never the decision
    for (const auto& r : w.reads) // each read says what the event announced
        assert_true(r.announced == B);

    size_t reads = w.reads.size();
    d->on_event(S1id, sentinel::SwitchMaster{"other", A, B});
    assert_int_equal(w.reads.size(), reads); // not a configured cluster

    sentinel::InstanceEvent ie;
    ie.channel = "+failover-end";
    ie.kind = "master";
    ie.master = C;
    d->on_event(S2id, ie);
    assert_int_equal(w.reads.size(), reads + 3);
    ie.channel = "+sentinel";
    ie.kind = "sentinel";
    ie.addr = D2;
    d->on_event(S2id, ie);
    assert_non_null(d->sentinel(D2id));
    assert_int_equal(w.reads.size(), reads + 3);
}

static void equal_epochs_never_flip(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 3);
    size_t checks = w.roles.size();
    report(*d, S1id, B, 3);
    report(*d, S2id, B, 3);
    report(*d, S3id, B, 3);
    assert_int_equal(w.roles.size(), checks);
    assert_int_equal(w.announced.size(), 1);
    assert_true(d->topology().state(C)->master == A);
}

// topology.h rule 3: the same address at a higher epoch is still asked ROLE
// before the new epoch is announced.
static void epoch_advance_is_confirmed_by_role(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    corroborate(*d, w, A, 2);
    assert_int_equal(w.announced.size(), 1);
    w.answer(ConfirmResult::Role::master);
    assert_int_equal(w.announced.size(), 2);
    assert_true(w.announced[1] == (proto::Master{C, A, 2, false, A.host}));
    assert_int_equal(only_cluster(d->view_clusters()).switches, 1); // not a switch
    // Consul hears of the new epoch too (HAProxy already routes to A): the
    // registration's fence must rise with it, or an instance still at
    // epoch 1 would not be kept out.
    assert_int_equal(w.published.size(), 2);
    assert_true(w.published[1].second == A);
    assert_int_equal(w.published_epochs[1], 2);
}

static void failover_in_progress_report_is_not_used(void**) {
    World w;
    auto d = make(w);
    sentinel::MasterInfo m;
    m.name = C;
    m.addr = A;
    m.config_epoch = 4;
    m.flags = {"master", "failover_in_progress"};
    d->on_master_info(S1id, m);
    d->on_master_info(S2id, m);
    assert_true(w.roles.empty());
    assert_true(w.reads.empty());
    assert_true(d->monitors(S1id, C));
    assert_true(d->monitors(S2id, C));
    assert_false(d->monitors(S3id, C));
    assert_false(d->monitors(S1id, "unknown"));
    assert_true(d->monitored(S1id) == std::vector<std::string>{C});
    assert_true(d->monitored(S3id).empty());
}

static void seeded_master_is_announced_once_reported_again(void**) {
    World w;
    DeciderSettings s;
    proto::ConfigCluster c;
    c.name = C;
    c.applied_master = A;
    c.applied_epoch = 7;
    Decider d(s, ClusterTable({c}, false), w.hooks());
    for (auto& addr : {S1, S2})
        d.add_sentinel(addr, true);
    ApiCluster v = only_cluster(d.view_clusters());
    assert_string_equal(v.apply_state.c_str(), "applied");
    assert_false(v.confirmed);
    report(d, S1id, A, 7);
    assert_true(w.announced.empty());
    report(d, S2id, A, 7);
    assert_true(w.roles.empty()); // the current master needs no ROLE check
    assert_int_equal(w.announced.size(), 1);
    assert_true(w.announced[0] == (proto::Master{C, A, 7, false, A.host}));
}

static void apply_results(void**) {
    World w;
    auto d = make(w);
    corroborate(*d, w, A, 1);
    w.answer(ConfirmResult::Role::master); // announced, not yet applied
    assert_string_equal(only_cluster(d->view_clusters()).apply_state.c_str(), "pending");

    int changed = w.changed;
    proto::ApplyResult unknown{"nosuch", proto::ApplyState::Applied, A, 1, 100, ""};
    assert_false(d->on_apply_result(unknown)); // the engine logs it and carries on
    assert_int_equal(w.changed, changed);
    assert_string_equal(only_cluster(d->view_clusters()).apply_state.c_str(), "pending");

    assert_true(d->on_apply_result({C, proto::ApplyState::Error, A, 1, 100, "check failed"}));
    ApiCluster c = only_cluster(d->view_clusters());
    assert_string_equal(c.apply_state.c_str(), "error");
    assert_string_equal(c.apply_error.c_str(), "check failed");
    assert_int_equal(c.apply_errors, 1);
    assert_true(d->on_apply_result({C, proto::ApplyState::Applied, A, 1, 101, ""}));
    c = only_cluster(d->view_clusters());
    assert_string_equal(c.apply_state.c_str(), "applied");
    assert_int_equal(c.applied_at, 101);
    assert_int_equal(c.apply_errors, 1);
    assert_true(w.changed > changed);
}

static void all_sentinels_down_keeps_the_master(void**) {
    World w;
    auto d = make(w);
    establish(*d, w, A, 1);
    for (auto& id : {S1id, S2id, S3id})
        d->on_link_down(id, "connection refused");
    ApiCluster c = only_cluster(d->view_clusters());
    assert_true(c.master == A);
    assert_true(c.stale);
    d->on_link_up(S1id);
    assert_false(only_cluster(d->view_clusters()).stale);
    d->on_not_monitored(S1id, C);
    assert_true(only_cluster(d->view_clusters()).stale);
    assert_false(d->monitors(S1id, C));
    assert_int_equal(w.announced.size(), 1);
}

// Whether the event log holds an event of this kind and reason for C.
const Event* find_event(const Decider& d, EventKind kind, EventReason reason) {
    static std::vector<Event> held;
    held = d.events().last(0, C);
    for (auto it = held.rbegin(); it != held.rend(); ++it)
        if (it->kind == kind && it->reason == reason)
            return &*it;
    return nullptr;
}

static void events_record_why(void**) {
    World w;
    auto d = make(w);
    // One trusted Sentinel alone: a candidate, refused for lack of agreement.
    report(*d, S1id, A, 1);
    const Event* e = find_event(*d, EventKind::candidate, EventReason::trusted);
    assert_non_null(e);
    assert_string_equal(e->detail.sentinel.c_str(), S1id.c_str());
    e = find_event(*d, EventKind::refused, EventReason::min_agreement);
    assert_non_null(e);
    assert_true(e->detail.master == A);
    assert_int_equal(e->detail.epoch, 1);
    assert_int_equal(e->first_ms, 1700000000000);
    // The second agrees; ROLE fails once (retried), then answers master.
    report(*d, S2id, A, 1);
    w.answer(ConfirmResult::Role::error, "timeout after 2000 ms");
    e = find_event(*d, EventKind::refused, EventReason::role_failed);
    assert_non_null(e);
    assert_string_equal(e->detail.text.c_str(), "ROLE error: timeout after 2000 ms");
    d->retry_due(C);
    w.answer(ConfirmResult::Role::not_master, "slave");
    assert_non_null(find_event(*d, EventKind::refused, EventReason::role_not_master));
    d->retry_due(C);
    w.answer(ConfirmResult::Role::master);
    // The first master since start-up is not a switch.
    assert_null(find_event(*d, EventKind::confirmed, EventReason::switch_master));
    e = find_event(*d, EventKind::confirmed, EventReason::initial);
    assert_non_null(e);
    assert_true(e->detail.master == A);
    assert_string_equal(e->detail.sentinel.c_str(), (S1id + ", " + S2id).c_str());
    // The parent's results, with the path.
    proto::ApplyResult r{C, proto::ApplyState::Applied, A, 1, 100, ""};
    r.path = proto::ApplyPath::Runtime;
    assert_true(d->on_apply_result(r));
    assert_non_null(find_event(*d, EventKind::applied, EventReason::runtime));
    assert_true(d->on_apply_result({C, proto::ApplyState::Error, A, 1, 101, "check failed"}));
    e = find_event(*d, EventKind::apply_error, EventReason::apply_failed);
    assert_non_null(e);
    assert_string_equal(e->detail.text.c_str(), "check failed");
    // An untrusted Sentinel's report: a candidate and a refusal, both
    // marked untrusted.
    d->on_discovered(C, {sentinel::SentinelInfo{D1, "", {}}});
    report(*d, D1id, B, 9);
    e = find_event(*d, EventKind::candidate, EventReason::untrusted);
    assert_non_null(e);
    assert_false(e->detail.trusted);
    assert_non_null(find_event(*d, EventKind::refused, EventReason::untrusted_source));
    // A stale epoch from the trusted ones.
    report(*d, S1id, B, 0);
    report(*d, S2id, B, 0);
    assert_non_null(find_event(*d, EventKind::refused, EventReason::stale_epoch));
    // The first master was no switch; a failover after it is.
    report(*d, S1id, B, 2);
    report(*d, S2id, B, 2);
    w.answer(ConfirmResult::Role::master);
    e = find_event(*d, EventKind::confirmed, EventReason::switch_master);
    assert_non_null(e);
    assert_true(e->detail.master == B);
}

// A refusal that stands while other refusals come and go is one event.
static void standing_refusal_is_recorded_once(void**) {
    World w;
    auto d = make(w);
    report(*d, S1id, A, 1); // alone: refused
    d->on_discovered(C, {sentinel::SentinelInfo{D1, "", {}}, sentinel::SentinelInfo{D2, "", {}}});
    for (uint64_t e = 10; e < 20; e++) { // forged reports, each a new refusal line
        report(*d, D1id, B, e);
        report(*d, D2id, B, e + 100);
    }
    const Event* e = find_event(*d, EventKind::refused, EventReason::min_agreement);
    assert_non_null(e);
    assert_int_equal(e->count, 1);
    e = find_event(*d, EventKind::refused, EventReason::untrusted_source);
    assert_non_null(e);
    assert_true(e->count >= 20);
    assert_int_equal(d->events().last(0, C).size(), 4); // 2 candidates, 2 refusals
}

// The standing refusal of one cluster, pushed out of the event log by 200
// other clusters' refusals, is recorded again at its next re-read.
static void evicted_standing_refusal_is_recorded_again(void**) {
    World w;
    DeciderSettings s;
    std::vector<proto::ConfigCluster> cs;
    for (int i = 0; i < 201; i++) {
        proto::ConfigCluster c;
        c.name = i == 0 ? C : "noise" + std::to_string(i);
        cs.push_back(c);
    }
    Decider d(s, ClusterTable(cs, false), w.hooks());
    for (auto& addr : {S1, S2, S3})
        d.add_sentinel(addr, true);
    report(d, S1id, A, 1); // alone: min_agreement refuses it
    assert_non_null(find_event(d, EventKind::refused, EventReason::min_agreement));
    for (size_t i = 1; i < cs.size(); i++) {
        sentinel::MasterInfo m;
        m.name = cs[i].name;
        m.addr = B;
        m.config_epoch = 1;
        d.on_master_info(S1id, m);
    }
    assert_null(find_event(d, EventKind::refused, EventReason::min_agreement)); // evicted
    report(d, S1id, A, 1); // the same refusal stands
    const Event* e = find_event(d, EventKind::refused, EventReason::min_agreement);
    assert_non_null(e);
    assert_string_equal(e->cluster.c_str(), C.c_str());
    report(d, S1id, A, 1); // held again: not recorded twice
    assert_int_equal(find_event(d, EventKind::refused, EventReason::min_agreement)->count, 1);
}

static void events_record_seed_wait_and_max_discovered(void**) {
    World w;
    DeciderSettings s;
    s.max_discovered = 1;
    proto::ConfigCluster c;
    c.name = C;
    c.applied_master = A;
    c.applied_epoch = 7;
    Decider d(s, ClusterTable({c}, false), w.hooks());
    for (auto& addr : {S1, S2})
        d.add_sentinel(addr, true);
    report(d, S1id, A, 7);
    const Event* e = find_event(d, EventKind::refused, EventReason::seed_not_corroborated);
    assert_non_null(e);
    assert_true(e->detail.master == A);
    report(d, S1id, A, 7);
    assert_int_equal(find_event(d, EventKind::refused, EventReason::seed_not_corroborated)->count,
                     1); // noted once, not on every report
    report(d, S2id, A, 7);
    assert_non_null(find_event(d, EventKind::confirmed, EventReason::seed_confirmed));
    d.on_discovered(C, {sentinel::SentinelInfo{D1, "", {}}, sentinel::SentinelInfo{D2, "", {}}});
    e = find_event(d, EventKind::refused, EventReason::max_discovered);
    assert_non_null(e);
    assert_string_equal(e->detail.sentinel.c_str(), D2id.c_str());
}

// Fencing through the Decider: o_down of the applied master, corroborated
// by min_agreement trusted Sentinels, asks the parent once; an untrusted
// Sentinel or a lone one does not; -odown asks to lift it; a switch does
// not ask anything (the parent lifts the fence when it applies it).
static void fence_asked_once_on_corroborated_odown(void**) {
    World w;
    std::vector<proto::Message> asked;
    DeciderSettings s;
    s.policy.min_agreement = 2;
    proto::ConfigCluster c;
    c.name = C;
    c.external_port = 6380;
    c.fence = true;
    DeciderHooks h = w.hooks();
    h.fence = [&](const proto::Message& m) {
        asked.push_back(m);
        return true;
    };
    Decider d(s, ClusterTable({c}, false), std::move(h));
    for (auto& addr : {S1, S2, S3})
        d.add_sentinel(addr, true);
    d.add_sentinel(D1, false);
    establish(d, w, A, 1);
    auto odown = [&](const std::string& id, const HostPort& addr, uint64_t epoch, bool down) {
        sentinel::MasterInfo m;
        m.name = C;
        m.addr = addr;
        m.config_epoch = epoch;
        m.failover_timeout_ms = 60000;
        m.flags = down ? std::vector<std::string>{"master", "s_down", "o_down"}
                       : std::vector<std::string>{"master"};
        d.on_master_info(id, m);
    };
    odown(D1id, A, 1, true);
    odown(S1id, A, 1, true);
    assert_true(asked.empty()); // one trusted Sentinel, one untrusted
    odown(S2id, A, 1, true);
    assert_int_equal(asked.size(), 1);
    assert_true(asked[0] == proto::Message(proto::Fence{C, A, 1, 60000}));
    odown(S3id, A, 1, true); // already asked
    assert_int_equal(asked.size(), 1);
    // The parent reports the fence: the API shows it.
    proto::FenceState st;
    st.cluster = C;
    st.fenced = true;
    st.master = A;
    st.epoch = 1;
    st.fences = 1;
    assert_true(d.on_fence_state(st));
    ApiCluster v = only_cluster(d.view_clusters());
    assert_true(v.fence && v.fenced && v.fences == 1 && v.fence_sentinels == "fence");
    // -odown from two: lift asked.
    odown(S1id, A, 1, false);
    odown(S2id, A, 1, false);
    assert_int_equal(asked.size(), 2);
    assert_true(asked[1] == proto::Message(proto::Unfence{C, A, 1}));
    // Down again, then the switch: nothing is asked about the new master.
    odown(S1id, A, 1, true);
    odown(S2id, A, 1, true);
    assert_int_equal(asked.size(), 3);
    corroborate(d, w, B, 2);
    w.answer(ConfirmResult::Role::master);
    applied(d, B, 2);
    odown(S3id, B, 2, false);
    assert_int_equal(asked.size(), 3);
    // The parent's fence events are recorded.
    assert_false(find_event(d, EventKind::fence, EventReason::odown) == nullptr);
    assert_false(find_event(d, EventKind::fence, EventReason::fenced) == nullptr);
}

// A new engine whose predecessor's fence ran out (fence_timeout) while the
// master was o_down: when the Sentinels clear o_down it tells the parent,
// which otherwise would never fence that master at that epoch again.
static void unfence_after_a_fence_that_ran_out(void**) {
    World w;
    std::vector<proto::Message> asked;
    DeciderSettings s;
    s.policy.min_agreement = 2;
    proto::ConfigCluster c;
    c.name = C;
    c.external_port = 6380;
    c.fence = true;
    DeciderHooks h = w.hooks();
    h.fence = [&](const proto::Message& m) {
        asked.push_back(m);
        return true;
    };
    Decider d(s, ClusterTable({c}, false), std::move(h));
    for (auto& addr : {S1, S2, S3})
        d.add_sentinel(addr, true);
    establish(d, w, A, 1);
    proto::FenceState st; // the parent's replay
    st.cluster = C;
    st.fenced = false;
    st.master = A;
    st.epoch = 1;
    st.fences = 1;
    st.lifted_by = proto::FenceLift::Timeout;
    d.on_fence_state(st);
    auto up = [&](const std::string& id) {
        sentinel::MasterInfo m;
        m.name = C;
        m.addr = A;
        m.config_epoch = 1;
        m.flags = {"master"};
        d.on_master_info(id, m);
    };
    up(S1id);
    up(S2id);
    assert_int_equal(asked.size(), 1);
    assert_true(asked[0] == proto::Message(proto::Unfence{C, A, 1}));
    // A fence lifted by -odown owes nothing: a later engine does not ask.
    World w2;
    std::vector<proto::Message> asked2;
    DeciderHooks h2 = w2.hooks();
    h2.fence = [&](const proto::Message& m) {
        asked2.push_back(m);
        return true;
    };
    Decider d2(s, ClusterTable({c}, false), std::move(h2));
    for (auto& addr : {S1, S2, S3})
        d2.add_sentinel(addr, true);
    establish(d2, w2, A, 1);
    st.lifted_by = proto::FenceLift::Unfence;
    d2.on_fence_state(st);
    for (auto& id : {S1id, S2id}) {
        sentinel::MasterInfo m;
        m.name = C;
        m.addr = A;
        m.config_epoch = 1;
        m.flags = {"master"};
        d2.on_master_info(id, m);
    }
    assert_true(asked2.empty());
    // A fence the parent still holds, replayed after this engine already
    // saw o_down clear: the lift is asked at once, not after fence_timeout.
    World w3;
    std::vector<proto::Message> asked3;
    DeciderHooks h3 = w3.hooks();
    h3.fence = [&](const proto::Message& m) {
        asked3.push_back(m);
        return true;
    };
    Decider d3(s, ClusterTable({c}, false), std::move(h3));
    for (auto& addr : {S1, S2, S3})
        d3.add_sentinel(addr, true);
    establish(d3, w3, A, 1);
    assert_true(asked3.empty());
    st.fenced = true;
    st.lifted_by = proto::FenceLift::None;
    d3.on_fence_state(st);
    assert_int_equal(asked3.size(), 1);
    assert_true(asked3[0] == proto::Message(proto::Unfence{C, A, 1}));
}

// A cluster with fence = no never asks, however down its master is.
static void no_fence_without_the_key(void**) {
    World w;
    int asked = 0;
    DeciderHooks h = w.hooks();
    h.fence = [&](const proto::Message&) {
        asked++;
        return true;
    };
    DeciderSettings s;
    proto::ConfigCluster c;
    c.name = C;
    c.external_port = 6380;
    Decider d(s, ClusterTable({c}, false), std::move(h));
    for (auto& addr : {S1, S2, S3})
        d.add_sentinel(addr, true);
    establish(d, w, A, 1);
    for (auto& id : {S1id, S2id, S3id}) {
        sentinel::MasterInfo m;
        m.name = C;
        m.addr = A;
        m.config_epoch = 1;
        m.flags = {"master", "o_down"};
        d.on_master_info(id, m);
    }
    assert_int_equal(asked, 0);
    assert_false(only_cluster(d.view_clusters()).fence);
}

// A master announced by host name: the parent hears the name and the IP
// the ROLE check reached; when the name leads elsewhere, the master is
// checked there and announced again with the new address, like a failover;
// a lookup that still contains the address changes nothing; a failed
// lookup is shown per cluster and leaves the master where it is.
static void master_named_by_host_name_is_readdressed(void**) {
    World w;
    auto d = make(w);
    const HostPort N{"redis-0.redis.ns.svc", 6379};
    corroborate(*d, w, N, 3);
    RoleCheck first = w.roles.back();
    first.done(N, ConfirmResult{ConfirmResult::Role::master, "master", "10.1.0.7"});
    assert_int_equal(w.announced.size(), 1);
    assert_true(w.announced.back() == (proto::Master{C, N, 3, false, "10.1.0.7"}));
    assert_string_equal(d->master_addr(C)->c_str(), "10.1.0.7");

    size_t checks = w.roles.size();
    d->readdress(C, {"10.1.0.9", "10.1.0.7"}); // still among the answers
    assert_int_equal(w.roles.size(), checks);
    d->readdress(C, {"10.1.0.9"});
    assert_int_equal(w.roles.size(), checks + 1);
    assert_true(w.roles.back().candidate == N);
    // Not a master at the new address: nothing announced, old one kept.
    w.roles.back().done(N, ConfirmResult{ConfirmResult::Role::not_master, "slave", "10.1.0.9"});
    assert_int_equal(w.announced.size(), 1);
    assert_string_equal(d->master_addr(C)->c_str(), "10.1.0.7");
    d->readdress(C, {"10.1.0.9"});
    w.roles.back().done(N, ConfirmResult{ConfirmResult::Role::master, "master", "10.1.0.9"});
    assert_int_equal(w.announced.size(), 2);
    assert_true(w.announced.back() == (proto::Master{C, N, 3, false, "10.1.0.9"}));
    assert_non_null(find_event(*d, EventKind::confirmed, EventReason::readdressed));

    d->resolved(C, "NXDOMAIN");
    assert_string_equal(d->view_clusters()[0].resolve_error.c_str(), "NXDOMAIN");
    assert_string_equal(d->view_clusters()[0].master_addr.c_str(), "10.1.0.9");
    d->resolved(C, "");
    assert_string_equal(d->view_clusters()[0].resolve_error.c_str(), "");
    // A master named by an IP literal is never looked up again.
    World w2;
    auto d2 = make(w2);
    establish(*d2, w2, HostPort{"10.0.0.5", 6379}, 1);
    size_t before = w2.roles.size();
    d2->readdress(C, {"10.0.0.6"});
    assert_int_equal(w2.roles.size(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_backend_follows_trusted_sentinels_and_role),
        cmocka_unit_test(fence_asked_once_on_corroborated_odown),
        cmocka_unit_test(unfence_after_a_fence_that_ran_out),
        cmocka_unit_test(no_fence_without_the_key),
        cmocka_unit_test(configured_sentinels_are_opened_once),
        cmocka_unit_test(one_sentinel_never_moves_the_master),
        cmocka_unit_test(two_sentinels_and_role_master_announce_once),
        cmocka_unit_test(role_slave_is_never_announced),
        cmocka_unit_test(untrusted_sentinels_alone_cannot_move_it),
        cmocka_unit_test(secrets_and_links_for_discovered_sentinels),
        cmocka_unit_test(switch_master_rereads_every_trusted_sentinel),
        cmocka_unit_test(equal_epochs_never_flip),
        cmocka_unit_test(epoch_advance_is_confirmed_by_role),
        cmocka_unit_test(failover_in_progress_report_is_not_used),
        cmocka_unit_test(seeded_master_is_announced_once_reported_again),
        cmocka_unit_test(apply_results),
        cmocka_unit_test(all_sentinels_down_keeps_the_master),
        cmocka_unit_test(events_record_why),
        cmocka_unit_test(standing_refusal_is_recorded_once),
        cmocka_unit_test(evicted_standing_refusal_is_recorded_again),
        cmocka_unit_test(events_record_seed_wait_and_max_discovered),
        cmocka_unit_test(propagation_is_measured_from_the_first_sign),
        cmocka_unit_test(propagation_ignores_old_signs_and_path_none),
        cmocka_unit_test(stale_and_last_reread),
        cmocka_unit_test(apply_errors_by_reason),
        cmocka_unit_test(master_named_by_host_name_is_readdressed),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
