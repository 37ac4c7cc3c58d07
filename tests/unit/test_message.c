/* test_message.c: the stream proxy's message codec (stream-proxy/message.c):
 * client messages accepted and refused (docs/stream-protocol.md), signal
 * names, and output messages decoded back to the bytes they carry. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../stream-proxy/message.h"
#include "core/crypto.h"
#include "core/json.h"
#include "unit.h"

#define MAX_TIMEOUT 3600

static enum result parse(const char *s, struct message *m, const char **why)
{
	return message_parse(s, strlen(s), MAX_TIMEOUT, m, why);
}

static void exec_forms(void)
{
	struct message m;
	const char *why = NULL;

	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"exec\",\"command\":\"echo hi\"}", &m, &why),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_EXEC);
	CU_ASSERT_EQUAL(m.exec.argc, 1);
	CU_ASSERT_STRING_EQUAL(m.exec.argv[0], "echo hi");
	CU_ASSERT_TRUE(m.exec.flags & AP_EXEC_SHELL);
	CU_ASSERT_FALSE(m.exec.flags & (AP_EXEC_TTY | AP_EXEC_DETACH));
	CU_ASSERT_EQUAL(m.exec.stdout_cap, UINT64_MAX);
	message_free(&m);

	CU_ASSERT_EQUAL_FATAL(
	    parse("{\"type\":\"exec\",\"command\":[\"ls\",\"-l\"],\"env\":{\"A\":\"1\",\"B\":\"x="
		  "y\"},"
		  "\"working_dir\":\"/tmp\",\"timeout\":1.5,\"tty\":true,\"cols\":100,\"rows\":40,"
		  "\"detach\":true}",
		  &m, &why),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(m.exec.argc, 2);
	CU_ASSERT_STRING_EQUAL(m.exec.argv[1], "-l");
	CU_ASSERT_FALSE(m.exec.flags & AP_EXEC_SHELL);
	CU_ASSERT_EQUAL(m.exec.envc, 2);
	CU_ASSERT_STRING_EQUAL(m.exec.env[0], "A=1");
	CU_ASSERT_STRING_EQUAL(m.exec.env[1], "B=x=y");
	CU_ASSERT_STRING_EQUAL(m.exec.cwd, "/tmp");
	CU_ASSERT_EQUAL(m.exec.timeout_ms, 1500);
	CU_ASSERT_TRUE(m.exec.flags & AP_EXEC_TTY);
	CU_ASSERT_TRUE(m.exec.flags & AP_EXEC_DETACH);
	CU_ASSERT_EQUAL(m.exec.cols, 100);
	CU_ASSERT_EQUAL(m.exec.rows, 40);
	message_free(&m);
}

static void other_types(void)
{
	struct message m;
	const char *why = NULL;

	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"attach\",\"pid\":42}", &m, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_ATTACH);
	CU_ASSERT_EQUAL(m.pid, 42);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"stdin\",\"data\":\"h\\u00e9\"}", &m, &why),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_STDIN);
	CU_ASSERT_EQUAL(m.len, 3);
	CU_ASSERT_EQUAL(memcmp(m.data, "h\xc3\xa9", 3), 0);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(
	    parse("{\"type\":\"stdin\",\"encoding\":\"base64\",\"data\":\"AAEC\"}", &m, &why),
	    R_SUCCESS);
	CU_ASSERT_EQUAL(m.len, 3);
	CU_ASSERT_EQUAL(memcmp(m.data, "\0\1\2", 3), 0);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"signal\",\"signal\":\"SIGINT\"}", &m, &why),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(m.signo, SIGINT);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"signal\",\"signal\":15}", &m, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(m.signo, SIGTERM);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"resize\",\"cols\":1,\"rows\":1000}", &m, &why),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_RESIZE);
	CU_ASSERT_EQUAL(m.cols, 1);
	CU_ASSERT_EQUAL(m.rows, 1000);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"stdin_close\"}", &m, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_STDIN_CLOSE);
	message_free(&m);
	CU_ASSERT_EQUAL_FATAL(parse("{\"type\":\"detach\"}", &m, &why), R_SUCCESS);
	CU_ASSERT_EQUAL(m.type, MSG_DETACH);
	message_free(&m);
}

/* Each refused message names why; *out is not written (it stays zeroed). */
static void refusals(void)
{
	static const struct {
		const char *json, *why;
	} v[] = {
	    {"[]", "message is not a JSON object"},
	    {"{\"type\":", "message is not a JSON object"},
	    {"{}", "message has no type"},
	    {"{\"type\":7}", "message has no type"},
	    {"{\"type\":\"launch\"}", "unknown message type"},
	    {"{\"type\":\"exec\"}", "command must be a string or an array of strings"},
	    {"{\"type\":\"exec\",\"command\":\"\"}", "command is empty"},
	    {"{\"type\":\"exec\",\"command\":[]}", "command must have 1 to 4096 elements"},
	    {"{\"type\":\"exec\",\"command\":[\"a\",1]}", "command elements must be strings"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"env\":[]}",
	     "env must be an object of strings"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"env\":{\"A\":1}}",
	     "env values must be strings"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"env\":{\"A=B\":\"1\"}}",
	     "env names must be non-empty and contain no '='"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"env\":{\"\":\"1\"}}",
	     "env names must be non-empty and contain no '='"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"working_dir\":1}",
	     "working_dir must be a string"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"timeout\":3601}",
	     "timeout must be a number of seconds within the limit"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"timeout\":-1}",
	     "timeout must be a number of seconds within the limit"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"timeout\":\"5\"}",
	     "timeout must be a number of seconds within the limit"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"tty\":1}", "tty must be a boolean"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"cols\":0}", "cols and rows must be 1..1000"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"rows\":1001}",
	     "cols and rows must be 1..1000"},
	    {"{\"type\":\"exec\",\"command\":\"x\",\"detach\":\"yes\"}",
	     "detach must be a boolean"},
	    {"{\"type\":\"attach\"}", "attach needs a pid"},
	    {"{\"type\":\"attach\",\"pid\":0}", "attach needs a pid"},
	    {"{\"type\":\"attach\",\"pid\":2147483648}", "attach needs a pid"},
	    {"{\"type\":\"stdin\"}", "stdin data must be a string"},
	    {"{\"type\":\"stdin\",\"data\":\"x\",\"encoding\":\"hex\"}",
	     "encoding must be utf-8 or base64"},
	    {"{\"type\":\"stdin\",\"data\":\"x\",\"encoding\":2}", "encoding must be a string"},
	    {"{\"type\":\"stdin\",\"data\":\"!!!\",\"encoding\":\"base64\"}",
	     "stdin data is not valid base64"},
	    {"{\"type\":\"signal\",\"signal\":\"SEGV\"}", "unknown or disallowed signal"},
	    {"{\"type\":\"signal\",\"signal\":9.5}", "unknown or disallowed signal"},
	    {"{\"type\":\"signal\",\"signal\":1e300}", "unknown or disallowed signal"},
	    {"{\"type\":\"signal\"}", "unknown or disallowed signal"},
	    {"{\"type\":\"resize\",\"cols\":80}", "resize needs cols and rows in 1..1000"},
	    {"{\"type\":\"resize\",\"cols\":80,\"rows\":0}",
	     "resize needs cols and rows in 1..1000"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct message m;
		const char *why = NULL;

		memset(&m, 0, sizeof(m));
		CU_ASSERT_EQUAL(parse(v[i].json, &m, &why), R_INVALID);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		if (strcmp(why, v[i].why) != 0)
			CU_FAIL(v[i].json);
		CU_ASSERT_PTR_NULL(m.root_);
	}
}

static void signal_names(void)
{
	CU_ASSERT_EQUAL(message_signal_number("SIGHUP"), SIGHUP);
	CU_ASSERT_EQUAL(message_signal_number("int"), SIGINT);
	CU_ASSERT_EQUAL(message_signal_number("WINCH"), SIGWINCH);
	CU_ASSERT_EQUAL(message_signal_number("9"), SIGKILL);
	CU_ASSERT_EQUAL(message_signal_number("SEGV"), 0);
	CU_ASSERT_EQUAL(message_signal_number("11"), 0);
	CU_ASSERT_EQUAL(message_signal_number("SIG"), 0);
	CU_ASSERT_EQUAL(message_signal_number(""), 0);
	CU_ASSERT_EQUAL(message_signal_number(NULL), 0);
}

/* output: the message for a (then b) on stream, checked against its own
 * length, parsed as JSON and decoded back to a+b. */
static void output(uint8_t stream, const char *a, size_t alen, const char *b, size_t blen,
		   bool want_b64)
{
	unsigned char *out, dec[256], want[256];
	size_t len = 0, n = 0;
	bool b64 = !want_b64;
	struct json *j;
	const char *s = NULL, *enc = NULL;

	CU_ASSERT_EQUAL_FATAL(message_output_len(stream, (const unsigned char *)a, alen,
						 (const unsigned char *)b, blen, &b64, &len),
			      R_SUCCESS);
	CU_ASSERT_EQUAL(b64, want_b64);
	out = malloc(len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	message_output_write(out, len, stream, (const unsigned char *)a, alen,
			     (const unsigned char *)b, blen, b64);
	j = json_parse((const char *)out, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(json_get_str(j, "type", &s), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(s, stream == AP_STREAM_STDOUT ? "stdout" : "stderr");
	CU_ASSERT_EQUAL(json_get_str(j, "data", &s), R_SUCCESS);
	memcpy(want, a, alen);
	memcpy(want + alen, b, blen);
	if (b64) {
		CU_ASSERT_EQUAL(json_get_str(j, "encoding", &enc), R_SUCCESS);
		CU_ASSERT_STRING_EQUAL(enc, "base64");
		CU_ASSERT_EQUAL(crypto_base64_decode(s, strlen(s), dec, sizeof(dec), &n),
				R_SUCCESS);
		CU_ASSERT_EQUAL(n, alen + blen);
		CU_ASSERT_EQUAL(memcmp(dec, want, n), 0);
	} else {
		CU_ASSERT_EQUAL(json_get_str(j, "encoding", &enc), R_NOT_FOUND);
		CU_ASSERT_EQUAL(strlen(s), alen + blen);
		CU_ASSERT_EQUAL(memcmp(s, want, alen + blen), 0);
	}
	json_free(j);
	free(out);
}

static void output_messages(void)
{
	output(AP_STREAM_STDOUT, "hello", 5, " world\n", 7, false);
	output(AP_STREAM_STDERR, "", 0, "tab\there \"q\" \\", 14, false);
	/* a UTF-8 character split between a and b is still text */
	output(AP_STREAM_STDOUT, "caf\xc3", 4, "\xa9!", 2, false);
	/* NUL, invalid UTF-8, or escaping past 4/3: base64, every split */
	output(AP_STREAM_STDOUT, "a\0b", 3, "", 0, true);
	output(AP_STREAM_STDOUT, "\xff", 1, "\xfe\xfd\xfc", 3, true);
	output(AP_STREAM_STDERR, "\x01\x02", 2, "\x03\x04\x05\x06\x07", 5, true);
	output(AP_STREAM_STDOUT, "ab", 2, "c\x80", 2, true);
	output(AP_STREAM_STDOUT, "abcd", 4, "", 0, false);
}

static void output_refuses_bad_stream(void)
{
	size_t len;
	bool b64;

	CU_ASSERT_EQUAL(message_output_len(0, NULL, 0, (const unsigned char *)"x", 1, &b64, &len),
			R_INVALID);
	CU_ASSERT_EQUAL(message_output_len(3, NULL, 0, (const unsigned char *)"x", 1, &b64, &len),
			R_INVALID);
}

static void proxy_messages(void)
{
	struct agentproto_exit x = {
	    .exit_code = 137, .signal = 9, .duration_ms = 12, .flags = AP_EXIT_OOM_KILLED};
	struct buf b;

	buf_init(&b, 4096);
	CU_ASSERT_EQUAL(message_started(&b, 7), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(b.data, "{\"type\":\"started\",\"pid\":7}");
	buf_reset(&b);
	CU_ASSERT_EQUAL(message_exit(&b, &x), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(b.data,
			       "{\"type\":\"exit\",\"exit_code\":137,\"signal\":9,"
			       "\"timed_out\":false,\"oom_killed\":true,\"truncated\":false,"
			       "\"duration_ms\":12}");
	buf_reset(&b);
	CU_ASSERT_EQUAL(message_error(&b, "invalid_request", "say \"why\""), R_SUCCESS);
	CU_ASSERT_STRING_EQUAL(b.data, "{\"type\":\"error\",\"code\":\"invalid_request\","
				       "\"message\":\"say \\\"why\\\"\"}");
	buf_free(&b);
}

UNIT_SUITE(message, {"exec forms", exec_forms}, {"other types", other_types},
	   {"refusals name why", refusals}, {"signal names", signal_names},
	   {"output messages decode back", output_messages},
	   {"output refuses a bad stream", output_refuses_bad_stream},
	   {"proxy messages", proxy_messages});
