# stack.sh: start and stop one Sandpit instance (sourced by run.sh, test.sh
# and bench.sh). Everything lives under $STATE; every process started here is
# a direct child of the calling shell, so the shell reaps them all and a stop
# leaves no zombie and no orphan.
#
# Needs: REPO (checkout), BIN (build dir), STATE (state dir), PORT.
# Runs as root; everything but the privileged sandbox daemon runs as the
# unprivileged "sandpit" user, which may not be able to enter the checkout
# (a clone in /root or in a 0700 directory): stack_prepare copies what the
# services read into $STATE and points BIN there.

SP_USER=sandpit
STACK_PIDS=""

stack_log() { printf '%s\n' "stack: $*" >&2; }

# stack_fail NAME MESSAGE: report a start failure with the tail of its log
# (test and bench state directories are removed on exit).
stack_fail() {
	stack_log "$2; see $STATE/logs/$1.log"
	tail -n 15 "$STATE/logs/$1.log" >&2 2>/dev/null
	return 1
}

# AS_USER prefixes a command to run it as the unprivileged user, in "/" (the
# caller's directory may be closed to that user, and PostgreSQL refuses to
# start where it cannot return to its working directory). It is a word list,
# not a function, so a backgrounded command is exec'd directly and $! is the
# real process.
AS_USER="setpriv --reuid=$SP_USER --regid=$SP_USER --init-groups -- env -C /"

stack_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# stack_prepare: user, directories, installed copies, per-instance secrets.
stack_prepare() {
	id -u "$SP_USER" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SP_USER"
	mkdir -p "$STATE" || return 1
	STATE=$(cd "$STATE" && pwd)
	mkdir -p "$STATE/run" "$STATE/pg" "$STATE/logs" "$STATE/caddy" "$STATE/keys"
	chown "$SP_USER:$SP_USER" "$STATE/run" "$STATE/pg" "$STATE/logs" "$STATE/caddy" "$STATE/keys"
	chmod 0700 "$STATE/keys"
	chmod 0755 "$STATE"
	$AS_USER test -w "$STATE/run" || {
		stack_log "user $SP_USER cannot reach the state directory $STATE (a directory" \
			"above it is closed to other users); choose another SANDPIT_STATE_DIR"
		return 1
	}
	set -a
	SANDPIT_STATE_DIR=$STATE
	SANDPIT_PORT=$PORT
	SANDPIT_BIND=127.0.0.1
	SANDPIT_API_SOCK=$STATE/run/api.sock
	SANDPIT_STREAM_SOCK=$STATE/run/stream.sock
	SANDPIT_IMAGE_RECIPES=$STATE/etc/images
	set +a
	stack_install && stack_secrets
}

# stack_install: the services read their binaries, the migrations, the
# Caddyfile and the image recipes from root-owned copies under $STATE (bin/,
# db/, etc/), never from the checkout or the build directory, which their
# user may not be able to enter. Refreshed on every start; BIN then names the
# copy.
stack_install() {
	install -d -m 0755 "$STATE/bin" "$STATE/db" "$STATE/etc" || return 1
	if [ "$BIN" != "$STATE/bin" ]; then
		for f in "$BIN"/sandpit-* "$BIN/unit-tests"; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			install -m 0755 "$f" "$STATE/bin/" || return 1
		done
		BIN=$STATE/bin
	fi
	# A renamed migration must not linger as a second copy.
	rm -f "$STATE"/db/*.sql "$STATE"/etc/images/*.image
	install -d -m 0755 "$STATE/etc/images" &&
		install -m 0644 "$REPO"/db/*.sql "$STATE/db/" &&
		install -m 0644 "$REPO/etc/Caddyfile" "$STATE/etc/" &&
		install -m 0644 "$REPO"/etc/images/*.image "$STATE/etc/images/"
}

# stack_secrets: SANDPIT_JWT_SECRET and SANDPIT_SECRET_KEY for the services.
# A value from the environment (even empty) or from the SANDPIT_CONFIG file
# wins; only a missing one comes from $STATE/secrets.env, generated once (32
# random bytes as hex each, root-only 0600) so restarts keep tokens and
# stored webhook secrets valid.
stack_secrets() {
	if [ ! -s "$STATE/secrets.env" ]; then
		(
			umask 077
			{
				echo "SANDPIT_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
				echo "SANDPIT_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
			} >"$STATE/secrets.env"
		) || return 1
	fi
	chown root:root "$STATE/secrets.env" && chmod 0600 "$STATE/secrets.env" || return 1
	for name in SANDPIT_JWT_SECRET SANDPIT_SECRET_KEY; do
		[ -n "${!name+set}" ] && continue
		[ -n "${SANDPIT_CONFIG:-}" ] &&
			grep -Eq "^[[:space:]]*${name}[[:space:]]*=" "$SANDPIT_CONFIG" 2>/dev/null && continue
		line=$(grep -E "^$name=" "$STATE/secrets.env") && export "$line" || {
			stack_log "$STATE/secrets.env has no $name line; remove the file to regenerate it"
			return 1
		}
	done
}

# stack_spawn NAME SIGNAL CMD...: start a child, remember its pid and the
# signal that stops it gracefully, log to logs/NAME.log. The child gets a
# session of its own: Ctrl-C (SIGINT to the terminal's whole foreground
# group) or a kill of the caller's group then reaches only the caller, whose
# stack_stop records the sandboxes before anything stops. setsid forks only
# in a process group leader, which a background child is not while job
# control is off, so $! stays the service itself.
stack_spawn() {
	name=$1
	sig=$2
	shift 2
	flags=$-
	set +m
	setsid "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 &
	case $flags in *m*) set -m ;; esac
	STACK_PIDS="$!:$sig $STACK_PIDS"
	echo "$!" >"$STATE/run/$name.pid"
}

stack_wait_for() { # stack_wait_for SECONDS CMD...: poll until CMD succeeds
	tries=$(($1 * 20))
	shift
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

stack_pg_start() {
	pgbin=$(stack_pgbin)
	data=$STATE/pg/data
	sock=$STATE/pg/run
	mkdir -p "$sock" && chown "$SP_USER:$SP_USER" "$sock" && chmod 0700 "$sock"
	if [ ! -s "$data/PG_VERSION" ]; then
		$AS_USER "$pgbin/initdb" -D "$data" -U "$SP_USER" -A trust -E UTF8 \
			--no-sync >>"$STATE/logs/initdb.log" 2>&1 || {
			stack_fail initdb "initdb failed"
			return 1
		}
	fi
	# A stale pid file from a crash would stop postgres from starting.
	if [ -f "$data/postmaster.pid" ] && ! kill -0 "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null; then
		rm -f "$data/postmaster.pid"
	fi
	stack_spawn postgres INT $AS_USER "$pgbin/postgres" -D "$data" -k "$sock" \
		-c listen_addresses= -c max_connections=400 -c shared_buffers=128MB \
		-c fsync="${SANDPIT_PG_FSYNC:-on}" -c synchronous_commit="${SANDPIT_PG_SYNC:-on}"
	stack_wait_for 30 "$pgbin/pg_isready" -q -h "$sock" -U "$SP_USER" -d postgres || {
		stack_fail postgres "postgres did not start"
		return 1
	}
	if ! $AS_USER "$pgbin/psql" -h "$sock" -U "$SP_USER" -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'sandpit'" | grep -q 1; then
		$AS_USER "$pgbin/createdb" -h "$sock" -U "$SP_USER" sandpit || return 1
	fi
	$AS_USER "$BIN/sandpit-migrate" "$STATE/db" >>"$STATE/logs/migrate.log" 2>&1 || {
		stack_fail migrate "migrations failed"
	}
}

# stack_boxd_start: the one privileged process (root), parent and reaper of
# every sandbox; its socket is reachable by root and the sandpit group only.
# boxd's image cache is the API's SANDPIT_IMAGE_CACHE (file or environment):
# the API picks a template's key there, boxd mounts its layers from there.
stack_boxd_start() {
	[ -x "$BIN/sandpit-boxd" ] || return 0
	images=$("$BIN/sandpit-api" --check-config 2>/dev/null | sed -n 's/^SANDPIT_IMAGE_CACHE=\([^	]*\).*/\1/p')
	stack_spawn boxd TERM "$BIN/sandpit-boxd" --state-dir "$STATE/box" --group "$SP_USER" \
		--agent "$BIN/sandpit-agent" --images "${images:-/var/cache/sandpit/images}" --kill-on-exit
	stack_wait_for 10 test -S "$STATE/box/run/boxd.sock" || {
		stack_fail boxd "sandpit-boxd did not start"
	}
}

stack_api_start() {
	stack_spawn api TERM $AS_USER "$BIN/sandpit-api"
	stack_wait_for 10 test -S "$STATE/run/api.sock" || {
		stack_fail api "sandpit-api did not start"
	}
}

# stack_reaper_start: sandpit-reaper in a loop (expiry, crash recovery, warm
# pool, usage, outbox). One-second sweeps by default so tests see expiry
# promptly; SANDPIT_REAPER_LOOP sets another interval (seconds).
stack_reaper_start() {
	[ -x "$BIN/sandpit-reaper" ] || return 0
	stack_spawn reaper TERM $AS_USER "$BIN/sandpit-reaper" --loop \
		--interval "${SANDPIT_REAPER_LOOP:-1}"
}

# stack_runner_start: sandpit-runner, the job queue's worker (any number
# may run; one here).
stack_runner_start() {
	[ -x "$BIN/sandpit-runner" ] || return 0
	stack_spawn runner TERM $AS_USER "$BIN/sandpit-runner"
}

# stack_stream_start: the WebSocket proxy, behind the same web server.
stack_stream_start() {
	stack_spawn stream TERM $AS_USER "$BIN/sandpit-stream"
	stack_wait_for 10 test -S "$STATE/run/stream.sock" ||
		stack_fail stream "sandpit-stream did not start"
}

stack_caddy_start() {
	stack_spawn caddy TERM $AS_USER env HOME="$STATE/caddy" XDG_DATA_HOME="$STATE/caddy" \
		XDG_CONFIG_HOME="$STATE/caddy" caddy run --adapter caddyfile --config "$STATE/etc/Caddyfile"
	stack_wait_for 15 curl -sf "http://127.0.0.1:$PORT/api/v1/health" || {
		stack_fail caddy "caddy did not answer on port $PORT"
	}
}

# stack_apache_swap: replace Caddy by Apache (mod_proxy_fcgi) on the same
# port, for the smoke pass through the documented alternative.
stack_apache_swap() {
	caddy_pid=$(cat "$STATE/run/caddy.pid")
	kill -TERM "$caddy_pid" 2>/dev/null
	wait "$caddy_pid" 2>/dev/null
	STACK_PIDS=$(printf '%s\n' $STACK_PIDS | grep -v "^$caddy_pid:" | tr '\n' ' ')
	# The stream suite's drain test stops the proxy; bring it back for Apache.
	[ -S "$STATE/run/stream.sock" ] && kill -0 "$(cat "$STATE/run/stream.pid")" 2>/dev/null ||
		{ rm -f "$STATE/run/stream.sock"; stack_stream_start || return 1; }
	stack_spawn apache TERM apache2 -f "$REPO/etc/apache-sandpit.conf" -DFOREGROUND
	stack_wait_for 15 curl -sf "http://127.0.0.1:$PORT/api/v1/health" ||
		stack_fail apache-error "apache did not answer on port $PORT"
}

# stack_start: the whole instance, in dependency order.
stack_start() {
	stack_prepare &&
		stack_pg_start &&
		stack_boxd_start &&
		stack_api_start &&
		stack_stream_start &&
		stack_reaper_start &&
		stack_runner_start &&
		stack_caddy_start
}

# stack_stop: stop children newest first (the web server before the API,
# the API before the database), each with its own graceful signal, and reap
# each one before the next.
stack_stop() {
	# Sandboxes first, while the daemon and the database still answer: their
	# rows end "stopped" with reason "shutdown". A crash skips this and the
	# reaper reconciles instead.
	if [ -n "$STACK_PIDS" ] && [ -S "$STATE/box/run/boxd.sock" ]; then
		$AS_USER "$BIN/sandpit-admin" stop-all shutdown >>"$STATE/logs/admin.log" 2>&1
	fi
	for entry in $STACK_PIDS; do
		pid=${entry%%:*}
		kill -"${entry#*:}" "$pid" 2>/dev/null
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do
			# kill -0 succeeds on a zombie too: reap it if it is done.
			[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
			sleep 0.05
			n=$((n + 1))
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	STACK_PIDS=""
}
