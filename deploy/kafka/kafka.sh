#!/usr/bin/env bash
# Runs a real Apache Kafka (KRaft, no ZooKeeper) on loopback for cairn's tests and benchmarks.
#
#   kafka.sh fetch                 fetch the broker jars from Maven Central into deploy/kafka/lib
#   kafka.sh start                 one combined broker+controller on 127.0.0.1:$CAIRN_KAFKA_PORT
#   kafka.sh stop | wipe           stop it; wipe also deletes its data
#   kafka.sh cluster-start         three combined nodes on 127.0.0.1:$CAIRN_KAFKA_CLUSTER_PORT..+2
#   kafka.sh cluster-stop | cluster-wipe
#   kafka.sh kill N | restart N    kill -9 / start again node N (1..3) of the three-node cluster
#   kafka.sh pause N | resume N    SIGSTOP / SIGCONT node N: it stays a process but answers nobody,
#                                  so its replicas fall out of the ISR (replica.lag.time.max.ms)
#   kafka.sh bootstrap [cluster]   print the bootstrap servers
#   kafka.sh bootstrap sasl|ssl    print the single node's SASL_SSL or SSL listener (see below)
#   kafka.sh ca                    print the path of the test CA's certificate (PEM)
#   kafka.sh secure-env            print shell assignments of the secured listeners, the CA and
#                                  the SCRAM user for the real-broker tests: eval "$(kafka.sh secure-env)"
#   kafka.sh status
#
# Ports (all on 127.0.0.1): CAIRN_KAFKA_PORT (9092) and CAIRN_KAFKA_CONTROLLER_PORT (9093) for the
# single node; CAIRN_KAFKA_CLUSTER_PORT (19092) for the cluster's brokers, whose controllers listen
# 100 above. Data and logs live under target/kafka/. Every command is safe to repeat.
#
# With CAIRN_KAFKA_QUORUM_PROXY_PORT=P set, node N reaches controller M through 127.0.0.1:P+10*N+M
# instead of directly, so a test that runs a TCP proxy there can cut one node off from the
# controllers while its broker still serves clients (cairn canary's metadata-consistency test).
#
# Secured listeners (single node only; the PLAINTEXT one above stays as it is): SASL_SSL with
# SCRAM-SHA-512 on CAIRN_KAFKA_SASL_PORT (CAIRN_KAFKA_PORT+4) and SSL on CAIRN_KAFKA_SSL_PORT
# (CAIRN_KAFKA_PORT+5); +2 and +3 are the tests' second broker's. CAIRN_KAFKA_SECURE=0 leaves
# them out (that second broker needs none). At first start the script makes a self-signed CA
# and the broker's keystore with keytool under target/kafka/tls/ (ca.pem is what clients
# trust), and creates the SCRAM user CAIRN_KAFKA_SASL_USER (cairn) with
# CAIRN_KAFKA_SASL_PASSWORD through the Admin API.
# Test credentials on loopback only: never use this CA or password anywhere else.
#
# The cluster's nodes drop a follower from the ISR after CAIRN_KAFKA_REPLICA_LAG_MS (3000) without
# catching up (Kafka's default is 30 s), so fault tests can make a follower stale in seconds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib="$here/lib"
state="${CAIRN_KAFKA_STATE:-$root/target/kafka}"
single_port="${CAIRN_KAFKA_PORT:-9092}"
single_controller_port="${CAIRN_KAFKA_CONTROLLER_PORT:-9093}"
cluster_port="${CAIRN_KAFKA_CLUSTER_PORT:-19092}"
heap="${CAIRN_KAFKA_HEAP:--Xms256m -Xmx1g}"
ready_timeout="${CAIRN_KAFKA_READY_TIMEOUT:-90}"
cluster_replica_lag_ms="${CAIRN_KAFKA_REPLICA_LAG_MS:-3000}"
sasl_port="${CAIRN_KAFKA_SASL_PORT:-$((single_port + 4))}"
ssl_port="${CAIRN_KAFKA_SSL_PORT:-$((single_port + 5))}"
secure="${CAIRN_KAFKA_SECURE:-1}"
sasl_user="${CAIRN_KAFKA_SASL_USER:-cairn}"
sasl_password="${CAIRN_KAFKA_SASL_PASSWORD:-cairn-local-scram-password}"
tls="$state/tls"

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

fetch() {
    local stamp="$lib/.pom.sha256" want
    want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "maven (mvn) is needed to fetch the broker; install it (apt-get install maven)"
    say "fetching the Kafka broker jars from Maven Central into $lib"
    rm -rf "$lib"
    mvn -B -q -Dstyle.color=never -f "$here/pom.xml" package >"$state-fetch.log" 2>&1 \
        || { cat "$state-fetch.log" >&2; die "maven could not fetch the broker jars (log: $state-fetch.log)"; }
    echo "$want" >"$stamp"
}

# The readiness probe is a tiny Java program that sends a real metadata request.
probe() { java_tool WaitReady "$@"; }

# java_tool NAME ARGS...: compiles deploy/kafka/NAME.java against the broker jars (once) and runs it.
java_tool() {
    local classes="$state/probe" name=$1
    shift
    if [[ ! -f "$classes/$name.class" || "$here/$name.java" -nt "$classes/$name.class" ]]; then
        mkdir -p "$classes"
        javac -nowarn -d "$classes" -cp "$lib/*" "$here/$name.java"
    fi
    java -cp "$classes:$lib/*" "$name" "$@"
}

# The test CA and the broker's keystore, made once with keytool: a CA key pair whose certificate
# (ca.pem) clients trust, and a broker key pair signed by it for 127.0.0.1 and localhost, since
# librdkafka checks the broker's name against the certificate by default.
make_tls() {
    [[ -f "$tls/broker.p12" && -f "$tls/ca.pem" && -f "$tls/store.password" ]] && return 0
    command -v keytool >/dev/null || die "keytool (a JDK) is needed to make the test CA"
    rm -rf "$tls"
    mkdir -p "$tls"
    chmod 700 "$tls"
    local pw
    pw=$(openssl rand -hex 16 2>/dev/null || python3 -c 'import secrets;print(secrets.token_hex(16))')
    local kt=(keytool -storetype PKCS12 -storepass "$pw" -keypass "$pw")
    {
        "${kt[@]}" -genkeypair -alias ca -keyalg RSA -keysize 2048 -validity 3650 \
            -dname "CN=cairn test CA" -ext bc:c -keystore "$tls/ca.p12"
        "${kt[@]}" -exportcert -rfc -alias ca -keystore "$tls/ca.p12" -file "$tls/ca.pem"
        "${kt[@]}" -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
            -dname "CN=localhost" -keystore "$tls/broker.p12"
        "${kt[@]}" -certreq -alias broker -keystore "$tls/broker.p12" -file "$tls/broker.csr"
        "${kt[@]}" -gencert -alias ca -keystore "$tls/ca.p12" -infile "$tls/broker.csr" \
            -outfile "$tls/broker.pem" -rfc -validity 3650 \
            -ext "SAN=IP:127.0.0.1,DNS:localhost" -ext ku:c=digitalSignature,keyEncipherment -ext eku=serverAuth
        "${kt[@]}" -importcert -noprompt -alias ca -file "$tls/ca.pem" -keystore "$tls/broker.p12"
        "${kt[@]}" -importcert -alias broker -file "$tls/broker.pem" -keystore "$tls/broker.p12"
    } >"$tls/keytool.log" 2>&1 || { cat "$tls/keytool.log" >&2; die "making the test CA failed (log: $tls/keytool.log)"; }
    echo "$pw" >"$tls/store.password"
    say "made the test CA $tls/ca.pem and the broker keystore"
}

# The client settings of the SASL_SSL listener, for the Java probes (a properties file).
sasl_client_properties() {
    local f="$tls/client-sasl.properties"
    cat >"$f" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$sasl_user" password="$sasl_password";
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
PROPS
    chmod 600 "$f"
    echo "$f"
}

# Once the node answers on PLAINTEXT: the SCRAM user (once per data folder, or when the password
# changed), then a metadata request through the SASL_SSL listener with it, so "started" means
# every listener takes clients.
secure_ready() {
    local marker="$single_dir/data/.scram-user" want
    want=$(printf '%s:%s' "$sasl_user" "$sasl_password" | sha256sum | cut -d' ' -f1)
    if [[ ! -f "$marker" || "$(cat "$marker")" != "$want" ]]; then
        CAIRN_KAFKA_SASL_PASSWORD="$sasl_password" java_tool ScramUser "127.0.0.1:$single_port" "$sasl_user" >&2 \
            || die "creating the SCRAM user $sasl_user failed; broker logs: $single_dir/logs"
        echo "$want" >"$marker"
    fi
    # Its answer goes to stderr: stdout of `start` stays what it was before these listeners.
    probe "127.0.0.1:$sasl_port" 1 "$ready_timeout" "$(sasl_client_properties)" >&2 \
        || die "the SASL_SSL listener did not become ready; broker logs: $single_dir/logs"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1/pid" ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }

# write_properties DIR NODE_ID BROKER_PORT CONTROLLER_PORT VOTERS REPLICATION [secure]
write_properties() {
    local dir=$1 id=$2 bport=$3 cport=$4 voters=$5 rf=$6 secure=${7:-} min_isr=1 extra=""
    local listeners="PLAINTEXT://127.0.0.1:$bport" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    ((rf > 1)) && min_isr=2 && extra="replica.lag.time.max.ms=$cluster_replica_lag_ms"
    if [[ -n "$secure" ]]; then
        listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port,SSL://127.0.0.1:$ssl_port"
        protocols="$protocols,SASL_SSL:SASL_SSL,SSL:SSL"
        extra="$extra
# the secured listeners (SASL_SSL with SCRAM-SHA-512, and SSL), keystore made by make_tls
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$(cat "$tls/store.password")
ssl.key.password=$(cat "$tls/store.password")
ssl.client.auth=none"
    fi
    cat >"$dir/server.properties" <<PROPS
# written by deploy/kafka/kafka.sh; edits are overwritten at the next start
node.id=$id
process.roles=broker,controller
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
controller.quorum.voters=$voters
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
log.retention.check.interval.ms=2000
# retention checks start at once, not 30 s after start: a test of expiry must not depend on the broker's age
log.initial.task.delay.ms=0
log.segment.delete.delay.ms=1000
$extra
PROPS
}

# start_node DIR NODE_ID BROKER_PORT CONTROLLER_PORT VOTERS REPLICATION [secure]
start_node() {
    local dir=$1 id=$2 bport=$3 cport=$4 voters=$5 rf=$6 secure=${7:-} ports
    mkdir -p "$dir/logs"
    if pid_alive "$dir"; then
        say "node $id already running (pid $(cat "$dir/pid"), 127.0.0.1:$bport)"
        return 0
    fi
    if [[ -f "$dir/pid" ]]; then
        say "removing stale pid file $dir/pid (pid $(cat "$dir/pid") is not running)"
        rm -f "$dir/pid"
    fi
    ports=("$bport" "$cport")
    [[ -n "$secure" ]] && ports+=("$sasl_port" "$ssl_port")
    for port in "${ports[@]}"; do
        port_open "$port" && die "port $port on 127.0.0.1 is in use by another process; stop it or pick other ports (CAIRN_KAFKA_PORT, CAIRN_KAFKA_CONTROLLER_PORT, CAIRN_KAFKA_CLUSTER_PORT, CAIRN_KAFKA_SASL_PORT, CAIRN_KAFKA_SSL_PORT)"
    done
    write_properties "$dir" "$id" "$bport" "$cport" "$voters" "$rf" "$secure"
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        java -cp "$lib/*" -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.logs.dir="$dir/logs" \
            kafka.tools.StorageTool format --cluster-id="$(cluster_id "$dir/..")" \
            --config "$dir/server.properties" >"$dir/logs/format.log" 2>&1 \
            || { cat "$dir/logs/format.log" >&2; die "formatting node $id failed (log: $dir/logs/format.log)"; }
    fi
    # shellcheck disable=SC2086  # heap holds several JVM flags
    nohup java $heap -XX:+UseG1GC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$here/log4j2.yaml" -Dkafka.logs.dir="$dir/logs" \
        -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
    echo $! >"$dir/pid"
    say "node $id starting (pid $!, 127.0.0.1:$bport, logs: $dir/logs)"
}

# One cluster id per data folder, made on first start. It may begin with "-", so it is passed
# as --cluster-id=ID, never as a separate argument.
cluster_id() {
    local f="$1/cluster-id"
    [[ -f "$f" ]] || python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' >"$f"
    cat "$f"
}

stop_nodes() {
    local dirs=("$@") dir pid waited=0
    for dir in "${dirs[@]}"; do
        # SIGCONT first: a paused node would hold the SIGTERM until it runs again.
        pid_alive "$dir" && kill -CONT "$(cat "$dir/pid")" 2>/dev/null && kill -TERM "$(cat "$dir/pid")" 2>/dev/null || true
    done
    for dir in "${dirs[@]}"; do
        [[ -f "$dir/pid" ]] || continue
        pid=$(cat "$dir/pid")
        while kill -0 "$pid" 2>/dev/null && ((waited < 300)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "pid $pid did not stop within 30s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/pid"
    done
}

wait_ready() {
    local bootstrap=$1 brokers=$2 logs=$3
    probe "$bootstrap" "$brokers" "$ready_timeout" \
        || die "kafka did not become ready; broker logs: $logs"
}

single_dir="$state/single"
single_voters="1@127.0.0.1:$single_controller_port"
cluster_dir() { echo "$state/cluster/node-$1"; }
cluster_voters() {
    echo "1@127.0.0.1:$((cluster_port + 100)),2@127.0.0.1:$((cluster_port + 101)),3@127.0.0.1:$((cluster_port + 102))"
}
cluster_bootstrap() { echo "127.0.0.1:$cluster_port,127.0.0.1:$((cluster_port + 1)),127.0.0.1:$((cluster_port + 2))"; }
# The voters as node N reaches them: directly, or through the quorum proxy's ports.
node_voters() {
    local n=$1 proxy="${CAIRN_KAFKA_QUORUM_PROXY_PORT:-}"
    if [[ -z "$proxy" ]]; then
        cluster_voters
        return
    fi
    echo "1@127.0.0.1:$((proxy + 10 * n + 1)),2@127.0.0.1:$((proxy + 10 * n + 2)),3@127.0.0.1:$((proxy + 10 * n + 3))"
}
start_cluster_node() {
    local n=$1
    start_node "$(cluster_dir "$n")" "$n" "$((cluster_port + n - 1))" "$((cluster_port + 99 + n))" "$(node_voters "$n")" 3
}
node_arg() {
    [[ "${1:-}" =~ ^[123]$ ]] || die "expected a node number 1, 2 or 3, got '${1:-}'"
    echo "$1"
}

cmd="${1:-}"
shift || true
mkdir -p "$state"
case "$cmd" in
fetch) fetch ;;
start)
    fetch
    if [[ "$secure" == 1 ]]; then
        make_tls
        start_node "$single_dir" 1 "$single_port" "$single_controller_port" "$single_voters" 1 secure
        wait_ready "127.0.0.1:$single_port" 1 "$single_dir/logs"
        secure_ready
    else
        start_node "$single_dir" 1 "$single_port" "$single_controller_port" "$single_voters" 1
        wait_ready "127.0.0.1:$single_port" 1 "$single_dir/logs"
    fi
    ;;
stop) stop_nodes "$single_dir" ;;
wipe)
    stop_nodes "$single_dir"
    rm -rf "$single_dir"
    ;;
cluster-start)
    fetch
    for n in 1 2 3; do start_cluster_node "$n"; done
    wait_ready "$(cluster_bootstrap)" 3 "$state/cluster/node-*/logs"
    ;;
cluster-stop) stop_nodes "$(cluster_dir 1)" "$(cluster_dir 2)" "$(cluster_dir 3)" ;;
cluster-wipe)
    stop_nodes "$(cluster_dir 1)" "$(cluster_dir 2)" "$(cluster_dir 3)"
    rm -rf "$state/cluster"
    ;;
kill)
    n=$(node_arg "${1:-}")
    dir=$(cluster_dir "$n")
    if pid_alive "$dir"; then
        kill -KILL "$(cat "$dir/pid")"
        say "killed node $n (pid $(cat "$dir/pid")) with SIGKILL"
    else
        say "node $n is not running"
    fi
    rm -f "$dir/pid"
    ;;
pause | resume)
    n=$(node_arg "${1:-}")
    dir=$(cluster_dir "$n")
    pid_alive "$dir" || die "node $n is not running"
    if [[ "$cmd" == pause ]]; then sig=STOP; else sig=CONT; fi
    kill "-$sig" "$(cat "$dir/pid")"
    say "sent SIG$sig to node $n (pid $(cat "$dir/pid"))"
    ;;
restart)
    n=$(node_arg "${1:-}")
    start_cluster_node "$n"
    wait_ready "127.0.0.1:$((cluster_port + n - 1))" 1 "$(cluster_dir "$n")/logs"
    ;;
bootstrap)
    case "${1:-}" in
    cluster) cluster_bootstrap ;;
    sasl) echo "127.0.0.1:$sasl_port" ;;
    ssl) echo "127.0.0.1:$ssl_port" ;;
    "") echo "127.0.0.1:$single_port" ;;
    *) die "unknown listener '$1'; expected cluster, sasl or ssl" ;;
    esac
    ;;
ca) echo "$tls/ca.pem" ;;
secure-env)
    printf 'export CAIRN_TEST_SASL_BROKERS=%q CAIRN_TEST_SSL_BROKERS=%q CAIRN_TEST_KAFKA_CA=%q CAIRN_TEST_SASL_USER=%q CAIRN_TEST_SASL_PASSWORD=%q\n' \
        "127.0.0.1:$sasl_port" "127.0.0.1:$ssl_port" "$tls/ca.pem" "$sasl_user" "$sasl_password"
    ;;
status)
    for dir in "$single_dir" "$(cluster_dir 1)" "$(cluster_dir 2)" "$(cluster_dir 3)"; do
        [[ -d "$dir" ]] || continue
        if pid_alive "$dir"; then echo "$dir: running (pid $(cat "$dir/pid"))"; else echo "$dir: stopped"; fi
    done
    ;;
*) die "unknown command '${cmd}'; see the header of $0 for usage" ;;
esac
