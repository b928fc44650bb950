#!/usr/bin/env bash
# Deployment test: boots a real systemd (PID 1 in a systemd-nspawn container on a minimal Debian
# root built with mmdebstrap), installs the .deb exactly as README "Installation" says, and checks
# the service as an operator would. Driven by tests/deploy_systemd.rs; also runnable by hand:
#
#   deploy/test/deploy-systemd.sh target/debian/cspguard_*.deb target/deploy-cache
#
# Needs root with CAP_SYS_ADMIN, systemd-nspawn (systemd-container) and mmdebstrap. The root
# filesystem is cached as CACHE_DIR/bookworm-systemd.tar. Everything started here is stopped and
# removed on exit (container, its cgroup directories, the temporary directory).
# It also checks that `doctor`, run as README "cspguard doctor" says, catches a config the
# service user cannot read.
set -euo pipefail

deb=$(realpath "$1")
cache=$(realpath -m "$2")
work=$(mktemp -d /tmp/cspguard-deploy.XXXXXX)
root=$work/root
nspawn_pid=
pid1=
service_uid=
machine=cspguard-deploy-$$

log() { printf '=== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# The cgroup directories nspawn --keep-unit leaves under our own cgroup, deepest first.
remove_cgroup_leftovers() {
    local own
    own=$(awk -F: '$2 == "name=systemd" {print $3}' /proc/self/cgroup)
    for base in "/sys/fs/cgroup/systemd$own" "/sys/fs/cgroup/unified$own" "/sys/fs/cgroup$own"; do
        for leaf in payload supervisor; do
            [ -d "$base/$leaf" ] || continue
            find "$base/$leaf" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
    done
}

cleanup() {
    local rc=$?
    if [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
        nsenter -t "$pid1" -a systemctl poweroff >/dev/null 2>&1 || kill -TERM "$nspawn_pid" 2>/dev/null || true
    elif [ -n "$nspawn_pid" ]; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true
    fi
    if [ -n "$nspawn_pid" ]; then
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    remove_cgroup_leftovers
    rm -rf "/run/systemd/nspawn/propagate/$machine" 2>/dev/null || true
    if [ $rc -ne 0 ] && [ -f "$work/console.log" ]; then
        echo "--- container console (last 40 lines) ---" >&2
        tail -n 40 "$work/console.log" >&2 || true
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

# Run a command inside the container (all namespaces of its PID 1).
ct() { nsenter -t "$pid1" -a "$@"; }
# The owner UID of a file in the container, checked to be a dynamic user's (61184-65519: the
# name of a dynamic user only resolves while its unit runs).
dynamic_owner() {
    local uid
    uid=$(ct stat -c %u "$1") || return 1
    [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || return 1
    echo "$uid"
}
# Run a shell script inside the container.
sh_in() { nsenter -t "$pid1" -a /bin/bash -euo pipefail -c "$1"; }

build_root() {
    log "unpacking the Debian root (built once into $cache by build-root.sh)"
    "$(dirname "$0")/build-root.sh" "$cache"
    mkdir -p "$root"
    tar -C "$root" -xf "$cache/bookworm-systemd.tar"
    cp "$deb" "$root/root/"
}

boot() {
    log "booting systemd in the container"
    timeout 300 systemd-nspawn -D "$root" --machine="$machine" --register=no --keep-unit --private-network \
        --console=read-only -b >"$work/console.log" 2>&1 &
    nspawn_pid=$!
    local nspawn child
    for _ in $(seq 200); do
        nspawn=$(pgrep -P "$nspawn_pid" -x systemd-nspawn || true)
        child=${nspawn:+$(pgrep -P "$nspawn" -x systemd || true)}
        if [ -n "$child" ]; then
            pid1=$child
            break
        fi
        kill -0 "$nspawn_pid" 2>/dev/null || fail "systemd-nspawn exited early"
        sleep 0.1
    done
    [ -n "$pid1" ] || fail "no systemd in the container"
    # systemctl needs the manager's private bus socket, which appears shortly after PID 1 starts.
    for _ in $(seq 200); do
        ct test -S /run/systemd/private && break
        sleep 0.1
    done
    local state
    state=$(ct systemctl is-system-running --wait || true)
    case $state in
        running | degraded) ;;
        *) fail "container systemd is $state" ;;
    esac
}

# README "Installation": apt install, edit the config, write the three credential files.
install_package() {
    log "installing the package as README \"Installation\" says"
    sh_in 'cd /root && apt-get install -y -q ./cspguard_*.deb >/root/apt.log 2>&1 || { cat /root/apt.log; exit 1; }'
    sh_in '
        test -x /usr/bin/cspguard
        test "$(stat -c %a /etc/cspguard)" = 755
        test "$(stat -c %a /etc/cspguard/cspguard.toml)" = 644
        test "$(stat -c %a:%U /etc/cspguard/credentials)" = 700:root
        test -f /usr/share/cspguard/templates/en/digest.subject.txt
        test -f /usr/share/man/man1/cspguard.1 && test -f /usr/share/man/man1/cspguard-run.1
        test -f /usr/share/bash-completion/completions/cspguard
        test -f /usr/share/doc/cspguard/README.md
        systemctl cat cspguard.service cspguard@x.service cspguard.timer >/dev/null
    ' || fail "the package did not install its files with the documented modes"
    write_config cspguard /var/lib/cspguard 18080 /etc/cspguard/cspguard.toml
    write_credentials /etc/cspguard/credentials sim-client-secret
    # A custom template directory: one override of the built-in set.
    sh_in '
        install -d /etc/cspguard/templates/en
        echo "cspguard-custom-digest {{ date|date }} ({{ mode }})" \
            >/etc/cspguard/templates/en/digest.subject.txt
    '
}

# write_config NAME STATE_DIR PORT PATH: the operator's config for one simulator.
write_config() {
    sh_in "cat >$4 <<EOF
mode = \"notify\"
timezone = \"UTC\"

[partner_center]
tenant_id = \"sim-partner-tenant\"
client_id = \"sim-client-id\"
authority = \"http://127.0.0.1:$3\"
base_url = \"http://127.0.0.1:$3\"

[partner_center.app_user]

[state]
path = \"$2/state.db\"

[partner]
name = \"Deploy Test $1\"
contact_email = \"ar@deploy.example\"

[digest]
hour = 0

[templates]
dir = \"/etc/cspguard/templates\"

[mail]
transport = \"file\"
from = \"cspguard <cspguard@deploy.example>\"
ops_to = [\"ops@deploy.example\"]
outbox_dir = \"$2/outbox\"
EOF"
}

# write_credentials DIR CLIENT_SECRET: the three credential files, as README "systemd" says.
write_credentials() {
    sh_in "
        install -d -m 0700 $1
        install -m 0600 /dev/null $1/client_secret
        install -m 0600 /dev/null $1/refresh_token
        install -m 0600 /dev/null $1/smtp_password
        printf %s '$2' >$1/client_secret
        printf %s sim-refresh-token-0 >$1/refresh_token
    "
}

# start_simulator UNIT PORT: `cspguard simulate` as a transient unit, then wait for its port.
start_simulator() {
    ct systemd-run --quiet --unit="$1" -p Type=exec /usr/bin/cspguard simulate --port "$2"
    sh_in "for _ in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && exit 0; sleep 0.1; done; exit 1" ||
        fail "simulator $1 did not listen on $2"
}

outbox_count() { sh_in "ls /var/lib/private/$1/outbox/*.eml 2>/dev/null | wc -l"; }

check_service_runs() {
    log "systemctl start cspguard.service (dynamic user, LoadCredential=, file mail, custom templates)"
    local day_before
    day_before=$(TZ=UTC date +%F)
    ct systemctl start cspguard.service || {
        ct journalctl -u cspguard.service --no-pager -n 40 >&2
        fail "cspguard.service failed"
    }
    [ "$(ct readlink /var/lib/cspguard)" = private/cspguard ] &&
        service_uid=$(dynamic_owner /var/lib/private/cspguard/state.db) ||
        fail "state is not under /var/lib/cspguard or not owned by a dynamic user"
    local first
    first=$(outbox_count cspguard)
    [ "$first" -gt 0 ] || fail "the first run sent no mail"
    sh_in 'grep -l "^Subject: cspguard-custom-digest" /var/lib/private/cspguard/outbox/*.eml >/dev/null' ||
        fail "the digest did not use the custom template directory"
    # Secrets are readable only through LoadCredential=.
    if ct systemd-run --quiet --pipe --wait -p DynamicUser=yes \
        cat /etc/cspguard/credentials/client_secret >/dev/null 2>&1; then
        fail "a dynamic user can read /etc/cspguard/credentials directly"
    fi

    log "a second start sends nothing new and keeps the state"
    ct systemctl start cspguard.service || fail "second start of cspguard.service failed"
    local second allowed=0
    second=$(outbox_count cspguard)
    # The digest goes out once per local (UTC) day: a second run after midnight owes the new
    # day's digest, and nothing else.
    [ "$(TZ=UTC date +%F)" = "$day_before" ] || allowed=1
    [ "$second" -le $((first + allowed)) ] || fail "the second run sent $((second - first)) more mails"
    log "first run sent $first mails, the second none"
}

check_upgrade_keeps_config() {
    log "reinstalling the package keeps the operator's config"
    local before after
    before=$(ct md5sum /etc/cspguard/cspguard.toml)
    sh_in 'cd /root && apt-get install -y -q --reinstall ./cspguard_*.deb >/root/apt.log 2>&1 || { cat /root/apt.log; exit 1; }'
    after=$(ct md5sum /etc/cspguard/cspguard.toml)
    [ "$before" = "$after" ] || fail "reinstalling replaced /etc/cspguard/cspguard.toml"
}

check_timer() {
    log "the timer is listed by systemctl list-timers"
    ct systemctl enable --now --quiet cspguard.timer
    local timers
    timers=$(ct systemctl list-timers --all --no-pager)
    grep -q 'cspguard.timer' <<<"$timers" || fail "cspguard.timer not in list-timers: $timers"
}

check_broken_credential() {
    log "a broken credential fails the service and the journal says why"
    sh_in 'printf wrong-secret >/etc/cspguard/credentials/client_secret'
    if ct systemctl start cspguard.service 2>/dev/null; then
        fail "cspguard.service succeeded with a wrong client secret"
    fi
    local journal
    journal=$(ct journalctl -u cspguard.service -p warning --no-pager -o cat)
    grep -qi "client secret\|invalid_client\|AADSTS7000215" <<<"$journal" || {
        ct journalctl -u cspguard.service --no-pager -n 30 -o short >&2
        fail "journalctl -u cspguard.service -p warning does not name the bad client secret"
    }
    printf 'journal (priority warning or higher): %s\n' "$(grep -m1 -i "client secret" <<<"$journal")"
    sh_in 'printf sim-client-secret >/etc/cspguard/credentials/client_secret'
}

check_instances() {
    log "cspguard@a and cspguard@b run side by side with separate state"
    for i in a b; do
        local port=$((18080 + $(printf %d "'$i") - 96))
        start_simulator "cspguard-sim-$i" "$port"
        write_config "$i" "/var/lib/cspguard-$i" "$port" "/etc/cspguard/$i.toml"
        write_credentials "/etc/cspguard/credentials/$i" sim-client-secret
    done
    ct systemctl start cspguard@a.service cspguard@b.service || {
        ct journalctl -u cspguard@a.service -u cspguard@b.service --no-pager -n 40 >&2
        fail "cspguard@a/b failed"
    }
    # Dynamic UIDs are recycled between runs, so they need not differ; the state must.
    dynamic_owner /var/lib/private/cspguard-a/state.db >/dev/null &&
        dynamic_owner /var/lib/private/cspguard-b/state.db >/dev/null ||
        fail "instance state is not owned by dynamic users"
    sh_in '
        for i in a b; do
            grep -l "Deploy Test $i" /var/lib/private/cspguard-$i/outbox/*.eml >/dev/null
        done
        test -f /var/lib/private/cspguard/state.db
    ' || fail "instances do not keep separate state"
}

# README "cspguard doctor": the function that runs a command as the service would.
as_service() {
    ct systemd-run --quiet --pipe --wait --collect -p DynamicUser=yes -p User=cspguard \
        -p StateDirectory=cspguard -p ConfigurationDirectory=cspguard -p ConfigurationDirectoryMode=0755 \
        -p LoadCredential=client_secret:/etc/cspguard/credentials/client_secret \
        -p LoadCredential=refresh_token:/etc/cspguard/credentials/refresh_token \
        -p LoadCredential=smtp_password:/etc/cspguard/credentials/smtp_password \
        /usr/bin/cspguard "$@"
}

check_plan_as_service() {
    log "plan, run as README \"cspguard doctor\" says, works as the service user"
    as_service plan >"$work/plan.out" 2>&1 || {
        cat "$work/plan.out" >&2
        fail "plan as the service user failed"
    }
    [ "$(dynamic_owner /var/lib/private/cspguard/state.db)" = "$service_uid" ] ||
        fail "the recipe ran as another user than cspguard.service"
}

check_doctor_recipe() {
    log "doctor, run as README \"cspguard doctor\" says, catches an unreadable config"
    sh_in 'chmod 0600 /etc/cspguard/cspguard.toml'
    local out rc=0
    out=$(as_service doctor 2>&1) || rc=$?
    sh_in 'chmod 0644 /etc/cspguard/cspguard.toml'
    printf '%s\n' "$out"
    [ "$rc" -ne 0 ] || fail "doctor passed a config the service user cannot read"
    grep -q "cspguard.toml" <<<"$out" || fail "doctor did not name the unreadable config"
}

build_root
boot
install_package
start_simulator cspguard-sim 18080
check_service_runs
check_upgrade_keeps_config
check_plan_as_service
check_timer
check_broken_credential
check_instances
check_doctor_recipe
log "all deployment checks passed"
