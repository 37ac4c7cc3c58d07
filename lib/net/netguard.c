/* netguard.c: URL parsing and address classification for outbound requests
 * to user-supplied URLs. */
#include "net/netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

const char *netguard_class_str(enum netguard_class c)
{
	switch (c) {
	case NETGUARD_PUBLIC:
		return "public";
	case NETGUARD_LOOPBACK:
		return "loopback";
	case NETGUARD_PRIVATE:
		return "private";
	case NETGUARD_CGNAT:
		return "cgnat";
	case NETGUARD_LINK_LOCAL:
		return "link-local";
	case NETGUARD_METADATA:
		return "metadata";
	case NETGUARD_UNIQUE_LOCAL:
		return "unique-local";
	case NETGUARD_UNSPECIFIED:
		return "unspecified";
	case NETGUARD_MULTICAST:
		return "multicast";
	case NETGUARD_BROADCAST:
		return "broadcast";
	case NETGUARD_DOCUMENTATION:
		return "documentation";
	case NETGUARD_RESERVED:
		return "reserved";
	case NETGUARD_OWN:
		return "own";
	}
	return "reserved";
}

/* in4: is a inside net/bits (all host order)? */
static bool in4(uint32_t a, uint32_t net, unsigned bits)
{
	uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);

	return (a & mask) == (net & mask);
}

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

enum netguard_class netguard_classify_v4(uint32_t a)
{
	/* Cloud metadata first: these sit inside link-local and CGNAT, and stay
	 * refused even when private targets are allowed (AWS/GCP/Azure
	 * 169.254.169.254, ECS task credentials 169.254.170.2, Alibaba
	 * 100.100.100.200, Oracle 192.0.0.192). */
	if (a == V4(169, 254, 169, 254) || a == V4(169, 254, 170, 2) ||
	    a == V4(100, 100, 100, 200) || a == V4(192, 0, 0, 192))
		return NETGUARD_METADATA;
	if (in4(a, V4(0, 0, 0, 0), 8))
		return NETGUARD_UNSPECIFIED; /* 0.0.0.0 connects to the local host on Linux */
	if (in4(a, V4(127, 0, 0, 0), 8))
		return NETGUARD_LOOPBACK;
	if (in4(a, V4(10, 0, 0, 0), 8) || in4(a, V4(172, 16, 0, 0), 12) ||
	    in4(a, V4(192, 168, 0, 0), 16))
		return NETGUARD_PRIVATE;
	if (in4(a, V4(100, 64, 0, 0), 10))
		return NETGUARD_CGNAT;
	if (in4(a, V4(169, 254, 0, 0), 16))
		return NETGUARD_LINK_LOCAL;
	if (in4(a, V4(192, 0, 2, 0), 24) || in4(a, V4(198, 51, 100, 0), 24) ||
	    in4(a, V4(203, 0, 113, 0), 24))
		return NETGUARD_DOCUMENTATION;
	if (a == V4(255, 255, 255, 255))
		return NETGUARD_BROADCAST;
	if (in4(a, V4(224, 0, 0, 0), 4))
		return NETGUARD_MULTICAST;
	if (in4(a, V4(240, 0, 0, 0), 4) || in4(a, V4(192, 0, 0, 0), 24) ||
	    in4(a, V4(192, 88, 99, 0), 24) || in4(a, V4(198, 18, 0, 0), 15))
		return NETGUARD_RESERVED;
	return NETGUARD_PUBLIC;
}

static uint32_t v4_at(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

enum netguard_class netguard_classify_v6(const unsigned char a[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char ec2[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0,    0,
					      0,    0, 0,    0,	   0, 0, 0x02, 0x54};
	enum netguard_class c;

	if (zero(a, 16))
		return NETGUARD_UNSPECIFIED;
	if (zero(a, 15) && a[15] == 1)
		return NETGUARD_LOOPBACK;
	/* Embedded IPv4: a dual-stack socket or a translator delivers these to
	 * the IPv4 address, so they are exactly as dangerous as it is. */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, siit, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return netguard_classify_v4(v4_at(a + 12));
	if (zero(a, 12)) {
		/* IPv4-compatible (deprecated, RFC 4291): never a real public peer. */
		c = netguard_classify_v4(v4_at(a + 12));
		return c == NETGUARD_PUBLIC ? NETGUARD_RESERVED : c;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		/* 6to4: the relay forwards to the embedded IPv4 address. */
		c = netguard_classify_v4(v4_at(a + 2));
		return c;
	}
	if (memcmp(a, ec2, 16) == 0)
		return NETGUARD_METADATA;
	if ((a[0] & 0xfe) == 0xfc)
		return NETGUARD_UNIQUE_LOCAL;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return NETGUARD_LINK_LOCAL;
	if (a[0] == 0xff)
		return NETGUARD_MULTICAST;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return NETGUARD_DOCUMENTATION;
	/* 2001::/23 holds Teredo (whose client address is obfuscated, so it
	 * cannot be judged), ORCHID and other IETF protocol assignments. */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02)
		return NETGUARD_RESERVED;
	/* Outside 2000::/3 nothing is allocated global unicast: 100::/64
	 * discard, 64:ff9b:1::/48 local NAT64, fec0::/10 site-local... */
	if ((a[0] & 0xe0) != 0x20)
		return NETGUARD_RESERVED;
	return NETGUARD_PUBLIC;
}

enum netguard_class netguard_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return NETGUARD_RESERVED;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		return netguard_classify_v4(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		return netguard_classify_v6(s6->sin6_addr.s6_addr);
	}
	return NETGUARD_RESERVED;
}

/* v4_of: the IPv4 address (network order) in sa, also inside an
 * IPv4-mapped IPv6 address. */
static bool v4_of(const struct sockaddr *sa, uint32_t *out)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		*out = ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *b =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			memcpy(out, b + 12, 4);
			return true;
		}
	}
	return false;
}

static bool same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	uint32_t x, y;

	if (v4_of(a, &x) && v4_of(b, &y))
		return x == y;
	return a->sa_family == AF_INET6 && b->sa_family == AF_INET6 &&
	       memcmp(((const struct sockaddr_in6 *)(const void *)a)->sin6_addr.s6_addr,
		      ((const struct sockaddr_in6 *)(const void *)b)->sin6_addr.s6_addr, 16) == 0;
}

bool netguard_is_own_address(const struct sockaddr *sa)
{
	struct ifaddrs *list = NULL;
	bool own = false;

	if (sa == NULL || getifaddrs(&list) != 0)
		return false;
	for (struct ifaddrs *i = list; i != NULL && !own; i = i->ifa_next)
		own = i->ifa_addr != NULL &&
		      (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6) &&
		      same_address(i->ifa_addr, sa);
	freeifaddrs(list);
	return own;
}

enum netguard_class netguard_classify_here(const struct sockaddr *sa)
{
	enum netguard_class c = netguard_classify(sa);

	return c == NETGUARD_PUBLIC && netguard_is_own_address(sa) ? NETGUARD_OWN : c;
}

bool netguard_is_allowed(enum netguard_class c, bool allow_private)
{
	switch (c) {
	case NETGUARD_PUBLIC:
		return true;
	case NETGUARD_LOOPBACK:
	case NETGUARD_OWN:
	case NETGUARD_PRIVATE:
	case NETGUARD_CGNAT:
	case NETGUARD_LINK_LOCAL:
	case NETGUARD_UNIQUE_LOCAL:
		return allow_private;
	default:
		return false;
	}
}

/* parse_part: one IPv4 number part (decimal, 0x hex, 0 octal) into *v; R_INVALID
 * past 2^32 (so overflow can never wrap into a small address). */
static enum result parse_part(const char *s, size_t n, uint64_t *v)
{
	unsigned base = 10;
	uint64_t acc = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		s++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		int d;

		if (isdigit((unsigned char)s[i]))
			d = s[i] - '0';
		else if (base == 16 && isxdigit((unsigned char)s[i]))
			d = tolower((unsigned char)s[i]) - 'a' + 10;
		else
			return R_INVALID;
		if ((unsigned)d >= base)
			return R_INVALID;
		acc = acc * base + (unsigned)d;
		if (acc > 0xffffffffull)
			return R_INVALID;
	}
	*v = acc;
	return R_SUCCESS;
}

enum result netguard_parse_ipv4(const char *s, uint32_t *out)
{
	uint64_t parts[4] = {0};
	size_t len = s ? strlen(s) : 0, nparts = 0;
	uint64_t v;

	if (len == 0 || len > 64)
		return R_INVALID;
	if (s[len - 1] == '.')
		len--; /* one trailing dot, as in a fully qualified name */
	for (size_t i = 0; i <= len;) {
		size_t n = 0;

		while (i + n < len && s[i + n] != '.')
			n++;
		if (n == 0 || nparts == 4 || parse_part(s + i, n, &parts[nparts]) != R_SUCCESS)
			return R_INVALID;
		nparts++;
		i += n + 1;
	}
	if (nparts == 0)
		return R_INVALID;
	for (size_t i = 0; i + 1 < nparts; i++)
		if (parts[i] > 255)
			return R_INVALID;
	if (parts[nparts - 1] >= (1ull << (8 * (5 - nparts))))
		return R_INVALID;
	v = parts[nparts - 1];
	for (size_t i = 0; i + 1 < nparts; i++)
		v |= parts[i] << (8 * (3 - i));
	*out = (uint32_t)v;
	return R_SUCCESS;
}

/* ends_in_number: WHATWG's rule: a host whose last label is all digits or
 * 0x-hex is an IPv4 address or nothing, never a name. */
static bool ends_in_number(const char *h, size_t n)
{
	size_t start;

	if (n > 0 && h[n - 1] == '.')
		n--;
	start = n;
	while (start > 0 && h[start - 1] != '.')
		start--;
	if (start == n)
		return false;
	if (strspn(h + start, "0123456789") >= n - start)
		return true;
	if (n - start >= 2 && h[start] == '0' && (h[start + 1] == 'x' || h[start + 1] == 'X')) {
		for (size_t i = start + 2; i < n; i++)
			if (!isxdigit((unsigned char)h[i]))
				return false;
		return true;
	}
	return false;
}

static bool valid_name(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)c) || c == '-' || c == '_'))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[n - 1] != '-';
}

enum result netguard_parse_url(const char *url, struct netguard_url *out, const char **why)
{
	struct netguard_url u;
	const char *p, *auth, *auth_end, *host, *host_end, *path, *path_end;
	size_t len = url ? strlen(url) : 0, hn;
	unsigned long port = 0;
	char v6text[INET6_ADDRSTRLEN + 8], portstr[8];
	int w;

	memset(&u, 0, sizeof(u));
	*why = "url is empty or longer than 2048 bytes";
	if (len == 0 || len > NETGUARD_URL_MAX)
		return R_INVALID;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		/* Spaces, controls and non-ASCII are where parsers disagree;
		 * a backslash is a slash to browsers but not to curl. */
		if (c <= 0x20 || c >= 0x7f || c == '\\') {
			*why = "url contains spaces, control, non-ASCII or backslash characters";
			return R_INVALID;
		}
	}
	if (strncasecmp(url, "http://", 7) == 0) {
		auth = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		u.https = true;
		auth = url + 8;
	} else {
		*why = "only http:// and https:// urls are allowed";
		return R_INVALID;
	}
	auth_end = auth + strcspn(auth, "/?#");
	for (p = auth; p < auth_end; p++)
		if (*p == '@') {
			*why = "credentials in the url are not allowed";
			return R_INVALID;
		}
	host = auth;
	if (*host == '[') {
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (host_end == NULL || (size_t)(host_end - host - 1) >= sizeof(v6text)) {
			*why = "malformed IPv6 address in url";
			return R_INVALID;
		}
		memcpy(v6text, host + 1, (size_t)(host_end - host - 1));
		v6text[host_end - host - 1] = '\0';
		if (strchr(v6text, '%') != NULL || inet_pton(AF_INET6, v6text, u.v6) != 1) {
			*why = "malformed IPv6 address in url";
			return R_INVALID;
		}
		u.kind = NETGUARD_HOST_V6;
		p = host_end + 1;
		host++;
	} else {
		host_end = memchr(host, ':', (size_t)(auth_end - host));
		if (host_end == NULL)
			host_end = auth_end;
		p = host_end;
	}
	if (p < auth_end) {
		if (*p != ':' || p + 1 == auth_end || auth_end - p > 6) {
			*why = "malformed port in url";
			return R_INVALID;
		}
		for (const char *d = p + 1; d < auth_end; d++) {
			if (!isdigit((unsigned char)*d)) {
				*why = "malformed port in url";
				return R_INVALID;
			}
			port = port * 10 + (unsigned long)(*d - '0');
		}
		if (port == 0 || port > 65535) {
			*why = "port out of range in url";
			return R_INVALID;
		}
	}
	u.port = port ? (unsigned)port : (u.https ? 443 : 80);
	hn = (size_t)(host_end - host);
	if (hn == 0 || hn >= sizeof(u.host)) {
		*why = "url has no host or too long a host";
		return R_INVALID;
	}
	if (u.kind == NETGUARD_HOST_V6) {
		inet_ntop(AF_INET6, u.v6, u.host, sizeof(u.host));
	} else {
		char tmp[NETGUARD_HOST_MAX] = {0};

		for (size_t i = 0; i < hn; i++)
			tmp[i] = (char)tolower((unsigned char)host[i]);
		tmp[hn] = '\0';
		if (ends_in_number(tmp, hn)) {
			struct in_addr ia;

			if (netguard_parse_ipv4(tmp, &u.v4) != R_SUCCESS) {
				*why = "malformed IPv4 address in url";
				return R_INVALID;
			}
			u.kind = NETGUARD_HOST_V4;
			ia.s_addr = htonl(u.v4);
			inet_ntop(AF_INET, &ia, u.host, sizeof(u.host));
		} else {
			if (tmp[hn - 1] == '.')
				tmp[--hn] = '\0'; /* "localhost." is localhost */
			if (!valid_name(tmp, hn)) {
				*why = "malformed host name in url";
				return R_INVALID;
			}
			u.kind = NETGUARD_HOST_NAME;
			memcpy(u.host, tmp, hn + 1);
		}
	}
	path = auth_end;
	path_end = path + strcspn(path, "#");
	if (port)
		snprintf(portstr, sizeof(portstr), ":%lu", port);
	w = snprintf(u.canonical, sizeof(u.canonical), "%s://%s%s%s%s%.*s",
		     u.https ? "https" : "http", u.kind == NETGUARD_HOST_V6 ? "[" : "", u.host,
		     u.kind == NETGUARD_HOST_V6 ? "]" : "", port ? portstr : "",
		     (int)(path_end - path), path);
	if (w < 0 || (size_t)w >= sizeof(u.canonical)) {
		*why = "url too long";
		return R_INVALID;
	}
	if (*path != '/') {
		/* "http://h?q" and "http://h" get their implied "/" path. */
		size_t at = (size_t)w - (size_t)(path_end - path);

		if ((size_t)w + 1 >= sizeof(u.canonical)) {
			*why = "url too long";
			return R_INVALID;
		}
		memmove(u.canonical + at + 1, u.canonical + at, (size_t)(path_end - path) + 1);
		u.canonical[at] = '/';
	}
	*out = u;
	return R_SUCCESS;
}

static bool is_localhost(const char *h)
{
	size_t n = strlen(h);

	return strcmp(h, "localhost") == 0 || (n > 10 && strcmp(h + n - 10, ".localhost") == 0);
}

enum netguard_class netguard_host_class(const struct netguard_url *u)
{
	switch (u->kind) {
	case NETGUARD_HOST_V4:
		return netguard_classify_v4(u->v4);
	case NETGUARD_HOST_V6:
		return netguard_classify_v6(u->v6);
	case NETGUARD_HOST_NAME:
		break;
	}
	return is_localhost(u->host) ? NETGUARD_LOOPBACK : NETGUARD_PUBLIC;
}

static const char *refusal(enum netguard_class c)
{
	switch (c) {
	case NETGUARD_LOOPBACK:
		return "url resolves to a loopback address";
	case NETGUARD_OWN:
		return "url resolves to an address of this host";
	case NETGUARD_PRIVATE:
	case NETGUARD_CGNAT:
	case NETGUARD_UNIQUE_LOCAL:
		return "url resolves to a private address";
	case NETGUARD_LINK_LOCAL:
		return "url resolves to a link-local address";
	case NETGUARD_METADATA:
		return "url resolves to a cloud metadata address";
	default:
		return "url resolves to an address that is not publicly routable";
	}
}

/* own_checked: a literal's address, refused when it is this host's own. */
static enum result own_checked(const struct sockaddr_storage *ss, bool allow_private,
			       struct sockaddr_storage *out, const char **why)
{
	enum netguard_class c = netguard_classify_here((const struct sockaddr *)ss);

	if (!netguard_is_allowed(c, allow_private)) {
		*why = refusal(c);
		return R_FORBIDDEN;
	}
	*out = *ss;
	return R_SUCCESS;
}

enum result netguard_resolve(const struct netguard_url *u, bool allow_private,
			     struct sockaddr_storage *out, const char **why)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct sockaddr_storage first;
	enum netguard_class c = netguard_host_class(u);
	enum result r = R_INVALID;
	bool have = false;
	char portstr[8];

	if (!netguard_is_allowed(c, allow_private)) {
		*why = refusal(c);
		return R_FORBIDDEN;
	}
	memset(&first, 0, sizeof(first));
	if (u->kind == NETGUARD_HOST_V4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&first;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)u->port);
		s4->sin_addr.s_addr = htonl(u->v4);
		return own_checked(&first, allow_private, out, why);
	}
	if (u->kind == NETGUARD_HOST_V6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&first;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)u->port);
		memcpy(s6->sin6_addr.s6_addr, u->v6, 16);
		return own_checked(&first, allow_private, out, why);
	}
	snprintf(portstr, sizeof(portstr), "%u", u->port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(u->host, portstr, &hints, &ai) != 0 || ai == NULL) {
		*why = "url host does not resolve";
		return R_INVALID;
	}
	for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
		if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
			continue;
		c = netguard_classify_here(a->ai_addr);
		if (!netguard_is_allowed(c, allow_private)) {
			*why = refusal(c);
			r = R_FORBIDDEN;
			goto done;
		}
		if (!have && a->ai_addrlen <= sizeof(first)) {
			memcpy(&first, a->ai_addr, a->ai_addrlen);
			have = true;
		}
	}
	if (!have) {
		*why = "url host has no IPv4 or IPv6 address";
		goto done;
	}
	*out = first;
	r = R_SUCCESS;
done:
	freeaddrinfo(ai);
	return r;
}
