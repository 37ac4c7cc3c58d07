# images.sh: sourced by run.sh (its ok/ko/B/X, $T, $BIN, $CACHE, $BOXD_SOCK).
# Image roots (issue #13): a sandbox created with image=NAME@KEY boots from
# the layers of boxd's own cache, its root an overlay whose writable layer
# dies with it; boxd refuses any image= that is not NAME@KEY, that its cache
# does not hold, or whose layers are not root's alone. Sets PYKEY for the
# leak check (empty when python-basic is not built).

# BP REQUEST: one raw boxproto request to the daemon at $BOXD_SOCK (the
# client library refuses malformed tokens before boxd would see them)
BP() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1]); s.send(sys.argv[2].encode()); print(s.recv(65536).decode())' "$BOXD_SOCK" "$1"
}

# --- a sandbox on python-basic's layers -----------------------------------------------------
PYKEY=$(readlink "$CACHE/python-basic/current" 2>/dev/null)
BASEKEY=$(sed -n 's/.*"parent_key":"\([0-9a-f]*\)".*/\1/p' "$CACHE/python-basic/$PYKEY/image.json" 2>/dev/null)
if [ -z "$PYKEY" ] || [ -z "$BASEKEY" ]; then
	ko "image roots" "python-basic is not built in $CACHE (tests/images/run.sh builds it)"
	PYKEY=
else
	LAYERS="$CACHE/python-basic/$PYKEY/root $CACHE/base/$BASEKEY/root"
	touch "$T/layers-marker"
	sleep 0.05
	B create i1 image=python-basic@"$PYKEY" >/dev/null && B create i2 image=python-basic@"$PYKEY" >/dev/null ||
		ko "create on python-basic" "$(tail -3 "$T/boxd.log")"
	X i1 10000 'python3 -c "print(1)"; ls -d /usr/bin/gcc /etc/caddy /usr/lib/postgresql /etc/sandpit 2>/dev/null | wc -l;
		stat -c %U /usr/bin/python3.11; grep -c "^sandbox:" /etc/passwd; cat /etc/hostname; ls -A / | grep -c "^\.";
		findmnt -no FSTYPE /'
	[ "$(echo $OUT)" = "1 0 root 1 i1 0 overlay" ] &&
		ok "python-basic root: python3 runs, no host gcc, /etc/caddy or postgresql, layer files root's, own passwd and hostname" ||
		ko "python-basic root" "$OUT $ERR"
	X i1 5000 'echo mine >/var/tmp/mine && cat /var/tmp/mine; touch /usr/bin/x 2>/dev/null || echo denied'
	X i2 5000 'ls -A /var/tmp | wc -l'
	[ "$OUT" = 0 ] && ok "a write to the image's /var/tmp stays in its sandbox's upper layer" || ko "upper layer shared" "$OUT"
	# one tmpfs of --default-disk (32Mi) holds the upper layer and /workspace
	X i1 20000 'head -c 20000000 /dev/zero >/workspace/a; head -c 20000000 /dev/zero >/var/tmp/b; echo rc=$?'
	grep -q "rc=1" <<<"$OUT" && grep -q "No space left" <<<"$ERR" &&
		ok "root writes and /workspace share the disk limit (ENOSPC past it)" || ko "upper layer disk limit" "$OUT $ERR"
	B destroy i1 >/dev/null && B destroy i2 >/dev/null || ko "destroy image sandboxes"
	B create i3 image=python-basic@"$PYKEY" >/dev/null
	X i3 5000 'ls -A /var/tmp | wc -l'
	[ "$OUT" = 0 ] && ok "a destroyed sandbox's root writes are gone" || ko "upper layer survives" "$OUT"
	B destroy i3 >/dev/null
	# shellcheck disable=SC2086
	CHANGED=$(find $LAYERS -newer "$T/layers-marker" -o -cnewer "$T/layers-marker" | wc -l)
	MNT=$(grep -c "$CACHE" /proc/self/mountinfo)
	[ "$CHANGED" = 0 ] && [ "$MNT" = 0 ] && ok "the cache's layers are untouched and nothing of them is mounted on the host" ||
		ko "layers changed" "changed=$CHANGED mounts=$MNT"

	# --- refused image= values, spoken raw ----------------------------------------------------
	BAD=
	for v in python-basic python-basic@ "python-basic@${PYKEY:0:63}" "python-basic@$(tr a-f A-F <<<"$PYKEY")" \
		"../base@$PYKEY" "/etc@$PYKEY" "python-basic@$PYKEY/.." "python-basic@${PYKEY}0" \
		"Python-basic@$PYKEY" "$(head -c 300 /dev/zero | tr '\0' a)@$PYKEY" "python-basic@@$PYKEY"; do
		R=$(BP "create z image=$v")
		[[ $R == "err invalid"* ]] || BAD="$BAD [$v -> $R]"
	done
	R=$(BP "create z image=python-basic@$(head -c 64 /dev/zero | tr '\0' 0)")
	[[ $R == "err not_found"* ]] || BAD="$BAD [absent key -> $R]"
	R=$(BP "create z image=base@$PYKEY")
	[[ $R == "err not_found"* ]] || BAD="$BAD [key of another image -> $R]"
	[ -z "$BAD" ] && ! B list | grep -qx z &&
		ok "boxd refuses image= values that are not NAME@KEY (invalid) or not in its cache (not_found)" ||
		ko "image= refusals" "$BAD"
fi

# --- layers with unsafe ownership: a third daemon on a cache of our own -----------------------
C3=$T/cache
KA=$(head -c 64 /dev/zero | tr '\0' a)
KB=$(head -c 64 /dev/zero | tr '\0' b)
# mklayer NAME KEY [PARENT PARENT_KEY]
mklayer() {
	mkdir -p "$C3/$1/$2/root/usr" "$C3/$1/$2/root/etc"
	if [ -n "${3:-}" ]; then
		printf '{"name":"%s","key":"%s","parent":"%s","parent_key":"%s"}\n' "$1" "$2" "$3" "$4"
	else
		printf '{"name":"%s","key":"%s","parent":null,"parent_key":null}\n' "$1" "$2"
	fi >"$C3/$1/$2/image.json"
}
(
	umask 022
	mklayer tbase "$KB"
	# what a dynamically linked agent (make check's) loads, so it boots here too
	for f in $(ldd "$BIN/sandpit-agent" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$C3/tbase/$KB/root$(dirname "$f")" && cp -L "$f" "$C3/tbase/$KB/root$f"
	done
	mklayer tiny "$KA" tbase "$KB"
	mklayer gw "$KA" tbase "$KB" && chmod g+w "$C3/gw/$KA/root"
	mklayer ow "$KA" tbase "$KB" && chown 4242 "$C3/ow/$KA"
	mklayer wj "$KA" tbase "$KB" && chmod o+w "$C3/wj/$KA/image.json"
	mklayer pw "$KA" tbase "$KB"
	mklayer lr "$KA" tbase "$KB" && rmdir "$C3/lr/$KA/root/usr" "$C3/lr/$KA/root/etc" "$C3/lr/$KA/root" &&
		ln -s /usr "$C3/lr/$KA/root"
	ln -s tiny "$C3/ln"
	mklayer mm "$KA" tbase "$KB" && sed -i 's/"name":"mm"/"name":"tiny"/' "$C3/mm/$KA/image.json"
	mklayer loop "$KA" loop "$KA"
	mklayer orphan "$KA" nobase "$KB"
	mklayer esc "$KA" "../tiny" "$KA"
)
chmod 0755 "$C3"
S3=$T/state3
"$BIN/sandpit-boxd" --state-dir "$S3" --agent "$BIN/sandpit-agent" --default-memory 128Mi \
	--default-disk 8Mi --tmp-size 8Mi --images "$C3" --kill-on-exit >"$T/boxd3.log" 2>&1 &
BOXD2_PID=$!
for _ in $(seq 100); do [ -S "$S3/run/boxd.sock" ] && break; sleep 0.05; done
SAVED_SOCK=$BOXD_SOCK
BOXD_SOCK=$S3/run/boxd.sock
R=$(BP "create good image=tiny@$KA")
[[ $R == "ok addr="* ]] && ok "a root-owned two-layer image in boxd's cache boots" || ko "good image" "$R $(tail -2 "$T/boxd3.log")"
BP "destroy good" >/dev/null
BAD3=
# pw's own layer is fine, its parent's directory is world-writable
chmod o+w "$C3/tbase"
R=$(BP "create zpw image=pw@$KA")
[[ $R == "err invalid"* ]] || BAD3="[world-writable parent -> $R]"
chmod o-w "$C3/tbase"
for n in gw ow wj lr ln mm loop esc; do
	R=$(BP "create z$n image=$n@$KA")
	[[ $R == "err invalid"* ]] || BAD3="$BAD3 [$n -> $R]"
done
R=$(BP "create zo image=orphan@$KA")
[[ $R == "err not_found"* ]] || BAD3="$BAD3 [orphan -> $R]"
# the cache directory itself
chmod o+w "$C3"
R=$(BP "create zc image=tiny@$KA")
[[ $R == "err invalid"* ]] || BAD3="$BAD3 [world-writable cache -> $R]"
chmod o-w "$C3"
LEFT3=$(BP list)
[ -z "$BAD3" ] && [ "$LEFT3" = ok ] &&
	ok "boxd refuses layers (and a cache) that are group/world-writable, not root's, symlinks, mislabelled, looping or escaping" ||
	ko "unsafe layers" "$BAD3 list='$LEFT3'"
kill -TERM "$BOXD2_PID"
wait "$BOXD2_PID"
BOXD2_PID=
BOXD_SOCK=$SAVED_SOCK
