/* netguard.h: the SSRF guard for outbound requests to user-supplied URLs
 * (webhooks): a strict URL parser that canonicalises every IPv4 spelling,
 * and a classifier that says which addresses a request may connect to.
 *
 * The classifier and the parser are pure functions over data (unit-tested
 * without sending a packet); only netguard_resolve touches the resolver. */
#ifndef SANDPIT_NETGUARD_H
#define SANDPIT_NETGUARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/result.h"

enum netguard_class {
	NETGUARD_PUBLIC = 0,
	NETGUARD_LOOPBACK,	/* 127/8, ::1, "localhost" */
	NETGUARD_PRIVATE,	/* RFC 1918 */
	NETGUARD_CGNAT,		/* 100.64/10 (RFC 6598) */
	NETGUARD_LINK_LOCAL,	/* 169.254/16, fe80::/10 */
	NETGUARD_METADATA,	/* 169.254.169.254, fd00:ec2::254: cloud credentials */
	NETGUARD_UNIQUE_LOCAL,	/* fc00::/7 */
	NETGUARD_UNSPECIFIED,	/* 0/8 ("this network", reaches the host), :: */
	NETGUARD_MULTICAST,	/* 224/4, ff00::/8 */
	NETGUARD_BROADCAST,	/* 255.255.255.255 */
	NETGUARD_DOCUMENTATION, /* TEST-NET-1/2/3, 2001:db8::/32 */
	NETGUARD_RESERVED,	/* 240/4, 192.0.0/24, 198.18/15, 100::/64, site-local... */
	NETGUARD_OWN,		/* an address of this host (netguard_classify_here only) */
};

/* netguard_class_str: a short name ("loopback"); never NULL. */
const char *netguard_class_str(enum netguard_class c);

/* netguard_classify_v4: class of an IPv4 address given in host byte order. */
enum netguard_class netguard_classify_v4(uint32_t addr);

/* netguard_classify_v6: class of an IPv6 address (16 bytes, network order).
 * Addresses that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
 * IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo's
 * obfuscated client) take the class of the embedded address when that one is
 * not public, because a dual-stack socket or a translator reaches it. */
enum netguard_class netguard_classify_v6(const unsigned char addr[16]);

/* netguard_classify: class of a sockaddr (AF_INET or AF_INET6); any other
 * family is NETGUARD_RESERVED. */
enum netguard_class netguard_classify(const struct sockaddr *sa);

/* netguard_is_own_address: is sa (AF_INET, AF_INET6, or an IPv4-mapped
 * IPv6 form) assigned to one of this host's interfaces? Such an address
 * reaches this host's own services (the API, the proxy, PostgreSQL if it
 * listens beyond loopback) however public it looks. Reads the interface
 * list (getifaddrs) on every call; false when it cannot be read. */
bool netguard_is_own_address(const struct sockaddr *sa);

/* netguard_classify_here: netguard_classify, except that a public address
 * of this host is NETGUARD_OWN (refused like loopback). What every check
 * before a connection uses. */
enum netguard_class netguard_classify_here(const struct sockaddr *sa);

/* netguard_is_allowed: may an outbound request connect to class c?
 * Public only, unless allow_private (an operator setting for tests and
 * private deployments), which admits loopback, private, CGNAT, link-local and
 * unique-local ranges; metadata, unspecified, multicast, broadcast,
 * documentation and reserved addresses are refused either way. */
bool netguard_is_allowed(enum netguard_class c, bool allow_private);

/* netguard_parse_ipv4: the WHATWG/inet_aton IPv4 host syntax: 1 to 4 dot
 * separated parts, each decimal, 0x-hex or 0-octal, the last filling the
 * remaining bytes ("2130706433", "0x7f.1", "0177.0.0.1" are all 127.0.0.1).
 * One trailing dot is allowed. *out (host byte order) only on R_SUCCESS;
 * R_INVALID when s is not such a number or a part overflows. */
SP_MUST_CHECK enum result netguard_parse_ipv4(const char *s, uint32_t *out);

#define NETGUARD_URL_MAX  2048
#define NETGUARD_HOST_MAX 256

enum netguard_host_kind { NETGUARD_HOST_NAME, NETGUARD_HOST_V4, NETGUARD_HOST_V6 };

struct netguard_url {
	bool https;
	enum netguard_host_kind kind;
	char host[NETGUARD_HOST_MAX]; /* lowercase name, dotted quad, or v6 text (no brackets) */
	unsigned port;		      /* explicit or 80/443 */
	uint32_t v4;		      /* host order, when kind == V4 */
	unsigned char v6[16];	      /* when kind == V6 */
	/* scheme://host[:port]/path?query with the host canonical (numeric IPv4
	 * spellings rewritten as a dotted quad, IPv6 bracketed); what is handed to
	 * the HTTP client, so it and the guard agree on the host. */
	char canonical[NETGUARD_URL_MAX + 64];
};

/* netguard_parse_url: an absolute http:// or https:// URL of at most
 * NETGUARD_URL_MAX bytes: no userinfo ('@' in the authority), no control
 * characters or spaces, a port in 1..65535, an IPv6 literal without zone id,
 * a host name of LDH labels (a host whose last label is numeric must be a
 * valid IPv4 number, as WHATWG requires), the fragment dropped. On failure
 * *why (static text) says what is wrong; *out is written only on R_SUCCESS. */
SP_MUST_CHECK enum result netguard_parse_url(const char *url, struct netguard_url *out,
					     const char **why);

/* netguard_host_class: the class a parsed URL's host has without resolving:
 * the literal's class, NETGUARD_LOOPBACK for "localhost" and "*.localhost"
 * (RFC 6761), NETGUARD_PUBLIC for other names (which must be resolved). */
enum netguard_class netguard_host_class(const struct netguard_url *u);

/* netguard_resolve: resolve u's host (names with getaddrinfo, literals
 * as they are) and check every address: R_FORBIDDEN (with *why) when any
 * is not allowed, so a name with one public and one private address is
 * refused rather than trusted half way. On R_SUCCESS *out is the first address,
 * with u->port, the one the caller must connect to (pin it so a second
 * resolution cannot rebind the name). R_INVALID when the name does not
 * resolve. */
SP_MUST_CHECK enum result netguard_resolve(const struct netguard_url *u, bool allow_private,
					   struct sockaddr_storage *out, const char **why);

#endif
