/* test_netguard.c: the SSRF guard as pure data: address classes, the IPv4
 * number syntaxes, URL parsing and canonicalisation, the allow policy, and
 * webhook signing/backoff, and which addresses are this host's own. Nothing
 * here resolves a name or sends a packet. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/netguard.h"
#include "unit.h"
#include "sandbox/webhook.h"

struct v4case {
	const char *addr;
	enum netguard_class c;
};

static const struct v4case v4cases[] = {
    {"0.0.0.0", NETGUARD_UNSPECIFIED},
    {"0.1.2.3", NETGUARD_UNSPECIFIED},
    {"127.0.0.1", NETGUARD_LOOPBACK},
    {"127.255.255.254", NETGUARD_LOOPBACK},
    {"10.0.0.1", NETGUARD_PRIVATE},
    {"10.255.255.255", NETGUARD_PRIVATE},
    {"172.16.0.1", NETGUARD_PRIVATE},
    {"172.31.255.255", NETGUARD_PRIVATE},
    {"172.15.255.255", NETGUARD_PUBLIC},
    {"172.32.0.0", NETGUARD_PUBLIC},
    {"192.168.1.1", NETGUARD_PRIVATE},
    {"192.169.0.1", NETGUARD_PUBLIC},
    {"100.64.0.1", NETGUARD_CGNAT},
    {"100.127.255.255", NETGUARD_CGNAT},
    {"100.63.255.255", NETGUARD_PUBLIC},
    {"100.128.0.0", NETGUARD_PUBLIC},
    {"169.254.0.1", NETGUARD_LINK_LOCAL},
    {"169.254.169.254", NETGUARD_METADATA},
    {"169.254.170.2", NETGUARD_METADATA},
    {"100.100.100.200", NETGUARD_METADATA},
    {"192.0.0.192", NETGUARD_METADATA},
    {"192.0.0.8", NETGUARD_RESERVED},
    {"192.0.2.1", NETGUARD_DOCUMENTATION},
    {"198.51.100.7", NETGUARD_DOCUMENTATION},
    {"203.0.113.9", NETGUARD_DOCUMENTATION},
    {"198.18.0.1", NETGUARD_RESERVED},
    {"198.19.255.255", NETGUARD_RESERVED},
    {"198.20.0.0", NETGUARD_PUBLIC},
    {"192.88.99.1", NETGUARD_RESERVED},
    {"224.0.0.1", NETGUARD_MULTICAST},
    {"239.255.255.250", NETGUARD_MULTICAST},
    {"240.0.0.1", NETGUARD_RESERVED},
    {"255.255.255.255", NETGUARD_BROADCAST},
    {"8.8.8.8", NETGUARD_PUBLIC},
    {"1.1.1.1", NETGUARD_PUBLIC},
    {"93.184.216.34", NETGUARD_PUBLIC},
};

static void classify_v4(void)
{
	for (size_t i = 0; i < sizeof(v4cases) / sizeof(v4cases[0]); i++) {
		struct in_addr a;

		CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, v4cases[i].addr, &a), 1);
		if (netguard_classify_v4(ntohl(a.s_addr)) != v4cases[i].c)
			CU_FAIL(v4cases[i].addr);
	}
}

static const struct v4case v6cases[] = {
    {"::", NETGUARD_UNSPECIFIED},
    {"::1", NETGUARD_LOOPBACK},
    {"::ffff:127.0.0.1", NETGUARD_LOOPBACK},
    {"::ffff:7f00:1", NETGUARD_LOOPBACK},
    {"::ffff:10.1.2.3", NETGUARD_PRIVATE},
    {"::ffff:169.254.169.254", NETGUARD_METADATA},
    {"::ffff:8.8.8.8", NETGUARD_PUBLIC},
    {"::127.0.0.1", NETGUARD_LOOPBACK},
    {"::8.8.8.8", NETGUARD_RESERVED},
    {"::ffff:0:127.0.0.1", NETGUARD_LOOPBACK},
    {"64:ff9b::127.0.0.1", NETGUARD_LOOPBACK},
    {"64:ff9b::8.8.8.8", NETGUARD_PUBLIC},
    {"2002:7f00:1::", NETGUARD_LOOPBACK},
    {"2002:a9fe:a9fe::1", NETGUARD_METADATA},
    {"fe80::1", NETGUARD_LINK_LOCAL},
    {"febf::1", NETGUARD_LINK_LOCAL},
    {"fc00::1", NETGUARD_UNIQUE_LOCAL},
    {"fd12:3456::1", NETGUARD_UNIQUE_LOCAL},
    {"fd00:ec2::254", NETGUARD_METADATA},
    {"ff02::1", NETGUARD_MULTICAST},
    {"2001:db8::1", NETGUARD_DOCUMENTATION},
    {"2001::1", NETGUARD_RESERVED},
    {"100::1", NETGUARD_RESERVED},
    {"fec0::1", NETGUARD_RESERVED},
    {"2606:4700:4700::1111", NETGUARD_PUBLIC},
    {"2001:4860:4860::8888", NETGUARD_PUBLIC},
};

static void classify_v6(void)
{
	for (size_t i = 0; i < sizeof(v6cases) / sizeof(v6cases[0]); i++) {
		unsigned char a[16];

		CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, v6cases[i].addr, a), 1);
		if (netguard_classify_v6(a) != v6cases[i].c)
			CU_FAIL(v6cases[i].addr);
	}
}

static void classify_sockaddr(void)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr su = {.sa_family = AF_UNIX};

	s4.sin_addr.s_addr = htonl(0x7f000001);
	CU_ASSERT_EQUAL(netguard_classify((struct sockaddr *)&s4), NETGUARD_LOOPBACK);
	CU_ASSERT_EQUAL(inet_pton(AF_INET6, "::ffff:192.168.0.1", &s6.sin6_addr), 1);
	CU_ASSERT_EQUAL(netguard_classify((struct sockaddr *)&s6), NETGUARD_PRIVATE);
	CU_ASSERT_EQUAL(netguard_classify(&su), NETGUARD_RESERVED);
	CU_ASSERT_EQUAL(netguard_classify(NULL), NETGUARD_RESERVED);
}

static void policy(void)
{
	/* allow_private admits internal ranges for tests, never metadata or
	 * addresses that are not unicast. */
	static const struct {
		enum netguard_class c;
		bool strict, lax;
	} t[] = {
	    {NETGUARD_PUBLIC, true, true},	    {NETGUARD_LOOPBACK, false, true},
	    {NETGUARD_PRIVATE, false, true},	    {NETGUARD_CGNAT, false, true},
	    {NETGUARD_LINK_LOCAL, false, true},	    {NETGUARD_UNIQUE_LOCAL, false, true},
	    {NETGUARD_METADATA, false, false},	    {NETGUARD_UNSPECIFIED, false, false},
	    {NETGUARD_MULTICAST, false, false},	    {NETGUARD_BROADCAST, false, false},
	    {NETGUARD_DOCUMENTATION, false, false}, {NETGUARD_RESERVED, false, false},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(netguard_is_allowed(t[i].c, false), t[i].strict);
		CU_ASSERT_EQUAL(netguard_is_allowed(t[i].c, true), t[i].lax);
		CU_ASSERT_PTR_NOT_NULL(netguard_class_str(t[i].c));
	}
}

static void ipv4_numbers(void)
{
	static const struct {
		const char *s;
		uint32_t v;
	} good[] = {
	    {"127.0.0.1", 0x7f000001},
	    {"2130706433", 0x7f000001},
	    {"0x7f000001", 0x7f000001},
	    {"0x7f.1", 0x7f000001},
	    {"0177.0.0.1", 0x7f000001},
	    {"0177.1", 0x7f000001},
	    {"127.1", 0x7f000001},
	    {"127.0.1", 0x7f000001},
	    {"0x7F.0X0.0.01", 0x7f000001},
	    {"017700000001", 0x7f000001},
	    {"127.0.0.1.", 0x7f000001},
	    {"0", 0},
	    {"0x", 0},
	    {"4294967295", 0xffffffff},
	    {"169.254.43518", 0xa9fea9fe},
	};
	static const char *bad[] = {
	    "",
	    "4294967296",
	    "256.0.0.1",
	    "1.2.3.4.5",
	    "1..2",
	    ".1.2.3",
	    "08",
	    "0x1g",
	    "1.2.3.256",
	    "1.2.65536",
	    "1.16777216",
	    "1.2.3.4..",
	    "99999999999999999999",
	    "a.b",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t v = 1;

		if (netguard_parse_ipv4(good[i].s, &v) != R_SUCCESS || v != good[i].v)
			CU_FAIL(good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t v = 12345;

		if (netguard_parse_ipv4(bad[i], &v) != R_INVALID || v != 12345)
			CU_FAIL(bad[i]);
	}
}

static void urls(void)
{
	static const struct {
		const char *url, *canonical;
		enum netguard_class c;
	} good[] = {
	    {"http://example.com", "http://example.com/", NETGUARD_PUBLIC},
	    {"HTTPS://Example.COM:8443/a/b?x=1#frag", "https://example.com:8443/a/b?x=1",
	     NETGUARD_PUBLIC},
	    {"http://example.com?q", "http://example.com/?q", NETGUARD_PUBLIC},
	    {"http://127.0.0.1:9/", "http://127.0.0.1:9/", NETGUARD_LOOPBACK},
	    {"http://2130706433/", "http://127.0.0.1/", NETGUARD_LOOPBACK},
	    {"http://0x7f.1/", "http://127.0.0.1/", NETGUARD_LOOPBACK},
	    {"http://0177.0.0.1/", "http://127.0.0.1/", NETGUARD_LOOPBACK},
	    {"http://0x7f000001:8080/h", "http://127.0.0.1:8080/h", NETGUARD_LOOPBACK},
	    {"http://[::1]:8080/", "http://[::1]:8080/", NETGUARD_LOOPBACK},
	    {"http://[::ffff:169.254.169.254]/", "http://[::ffff:169.254.169.254]/",
	     NETGUARD_METADATA},
	    {"http://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/",
	     NETGUARD_METADATA},
	    {"http://localhost:1/", "http://localhost:1/", NETGUARD_LOOPBACK},
	    {"http://LOCALHOST./", "http://localhost/", NETGUARD_LOOPBACK},
	    {"http://api.localhost/", "http://api.localhost/", NETGUARD_LOOPBACK},
	    {"http://10.0.0.1/", "http://10.0.0.1/", NETGUARD_PRIVATE},
	    {"http://[fd00:ec2::254]/", "http://[fd00:ec2::254]/", NETGUARD_METADATA},
	    {"http://0/", "http://0.0.0.0/", NETGUARD_UNSPECIFIED},
	};
	static const char *bad[] = {
	    "file:///etc/passwd",
	    "gopher://127.0.0.1:70/_x",
	    "ftp://example.com/",
	    "dict://127.0.0.1:11211/",
	    "//example.com/",
	    "example.com",
	    "http://",
	    "http:///path",
	    "http://user:pass@example.com/",
	    "http://example.com@127.0.0.1/",
	    "http://exa mple.com/",
	    "http://example.com/\r\nX: y",
	    "http://example.com\\@evil/",
	    "http://ex\xc3\xa4mple.com/",
	    "http://example.com:0/",
	    "http://example.com:65536/",
	    "http://example.com:/",
	    "http://example.com:80a/",
	    "http://[::1/",
	    "http://[fe80::1%25eth0]/",
	    "http://[zz::1]/",
	    "http://1.2.3.4.5/",
	    "http://256.1.1.1/",
	    "http://foo.0x1/",
	    "http://foo.123/",
	    "http://-bad.example/",
	    "http://bad-.example/",
	    "http://a..b/",
	    "http://a_b$.com/",
	    "",
	};
	struct netguard_url u;
	const char *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&u, 0, sizeof(u));
		if (netguard_parse_url(good[i].url, &u, &why) != R_SUCCESS) {
			CU_FAIL(good[i].url);
			continue;
		}
		if (strcmp(u.canonical, good[i].canonical) != 0)
			CU_FAIL(good[i].url);
		if (netguard_host_class(&u) != good[i].c)
			CU_FAIL(good[i].url);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (netguard_parse_url(bad[i], &u, &why) != R_INVALID || why == NULL) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CU_FAIL(bad[i]);
		}
	}
	CU_ASSERT_EQUAL(netguard_parse_url("http://example.com/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(u.port, 80);
	CU_ASSERT_EQUAL(netguard_parse_url("https://example.com/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(u.port, 443);
	CU_ASSERT_TRUE(u.https);
}

static void resolve_literals(void)
{
	/* Literals and localhost are judged without a lookup. */
	struct sockaddr_storage ss;
	struct netguard_url u;
	const char *why;

	CU_ASSERT_EQUAL_FATAL(netguard_parse_url("http://0x7f.1:5/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(netguard_resolve(&u, false, &ss, &why), R_FORBIDDEN);
	CU_ASSERT_EQUAL(netguard_resolve(&u, true, &ss, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(ss.ss_family, AF_INET);
	CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5);
	CU_ASSERT_EQUAL_FATAL(netguard_parse_url("http://localhost:5/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(netguard_resolve(&u, false, &ss, &why), R_FORBIDDEN);
	CU_ASSERT_EQUAL_FATAL(netguard_parse_url("http://[::1]:5/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(netguard_resolve(&u, false, &ss, &why), R_FORBIDDEN);
	CU_ASSERT_EQUAL_FATAL(netguard_parse_url("http://169.254.169.254/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(netguard_resolve(&u, true, &ss, &why), R_FORBIDDEN);
	CU_ASSERT_EQUAL_FATAL(netguard_parse_url("http://8.8.8.8/", &u, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(netguard_resolve(&u, false, &ss, &why), R_SUCCESS);
}

static void signing(void)
{
	/* RFC 4231 test case 2: key "Jefe". */
	char sig[WEBHOOK_SIG_SIZE];
	const char *body = "what do ya want for nothing?";

	CU_ASSERT_EQUAL_FATAL(webhook_sign("Jefe", body, strlen(body), sig), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(
	    sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	CU_ASSERT_TRUE(webhook_event_is_known("*"));
	CU_ASSERT_TRUE(webhook_event_is_known("sandbox.ready"));
	CU_ASSERT_FALSE(webhook_event_is_known("sandbox.exploded"));
	CU_ASSERT_FALSE(webhook_event_is_known(NULL));
}

static void backoff(void)
{
	/* base 10, cap 3600: [5,10], [10,20], [20,40] ... capped at [1800,3600]. */
	for (int attempt = 1; attempt <= 20; attempt++) {
		long long d = 10;

		for (int i = 1; i < attempt && d < 3600; i++)
			d *= 2;
		if (d > 3600)
			d = 3600;
		CU_ASSERT_EQUAL(webhook_backoff_seconds(attempt, 10, 3600, 0), d / 2);
		CU_ASSERT_EQUAL(webhook_backoff_seconds(attempt, 10, 3600, (uint32_t)(d - d / 2)),
				d);
		for (uint32_t r = 0; r < 5000; r += 97) {
			long long v = webhook_backoff_seconds(attempt, 10, 3600, r);
			CU_ASSERT(v >= d / 2 && v <= d);
		}
	}
	CU_ASSERT(webhook_backoff_seconds(1, 1, 1, 0xffffffffu) >= 1);
	CU_ASSERT(webhook_backoff_seconds(1000000, 10, 3600, 7) <= 3600);
}

/* own_addresses: every address of this host's interfaces is its own, also
 * in IPv4-mapped form; a documentation address is not. */
static void own_addresses(void)
{
	struct sockaddr_in doc = {.sin_family = AF_INET};
	struct ifaddrs *list = NULL;
	int seen = 0;

	CU_ASSERT_FATAL(getifaddrs(&list) == 0);
	for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in6 m = {.sin6_family = AF_INET6};

		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(m.sin6_addr.s6_addr + 12,
		       &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		CU_ASSERT(netguard_is_own_address(i->ifa_addr));
		CU_ASSERT(netguard_is_own_address((struct sockaddr *)&m));
		seen++;
	}
	freeifaddrs(list);
	CU_ASSERT(seen >= 1); /* loopback at least */
	inet_pton(AF_INET, "192.0.2.77", &doc.sin_addr);
	CU_ASSERT(!netguard_is_own_address((struct sockaddr *)&doc));
}

/* own_public_address_refused: in a network namespace of its own (no packet
 * leaves it, none is sent) a child gives its loopback device a public
 * address; that address is then the host's own and refused like loopback. */
static void own_public_address_refused(void)
{
	int status = -1;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct ifreq ifr = {0};
		struct sockaddr_in *a = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
		struct netguard_url u;
		struct sockaddr_storage ss;
		const char *why = NULL;
		int fd;

		if (unshare(CLONE_NEWNET) != 0 || (fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
			_exit(2);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
		a->sin_family = AF_INET;
		inet_pton(AF_INET, "8.8.8.8", &a->sin_addr);
		if (ioctl(fd, SIOCSIFADDR, &ifr) != 0)
			_exit(3);
		if (netguard_classify((struct sockaddr *)a) != NETGUARD_PUBLIC ||
		    netguard_classify_here((struct sockaddr *)a) != NETGUARD_OWN)
			_exit(4);
		if (netguard_parse_url("http://8.8.8.8:8080/hook", &u, &why) != R_SUCCESS ||
		    netguard_resolve(&u, false, &ss, &why) != R_FORBIDDEN ||
		    strcmp(why, "url resolves to an address of this host") != 0)
			_exit(5);
		/* allowed where private targets are (development) */
		_exit(netguard_resolve(&u, true, &ss, &why) == R_SUCCESS ? 0 : 6);
	}
	CU_ASSERT(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "own_public_address_refused: child status %d (2: needs root)\n",
			status);
}

UNIT_SUITE(netguard, {"own addresses", own_addresses},
	   {"own public address refused", own_public_address_refused}, {"classify_v4", classify_v4},
	   {"classify_v6", classify_v6}, {"classify_sockaddr", classify_sockaddr},
	   {"policy", policy}, {"ipv4_numbers", ipv4_numbers}, {"urls", urls},
	   {"resolve_literals", resolve_literals}, {"signing", signing}, {"backoff", backoff});
