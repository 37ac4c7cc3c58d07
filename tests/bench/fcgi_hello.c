/* fcgi_hello.c: the bench's floor: a bare FastCGI "hello" with the same
 * process x thread shape as sandpit-api, no database, no auth. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int sock;

static void *serve(void *arg)
{
	static const char resp[] = "Status: 200\r\nContent-Type: application/json\r\n"
				   "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";
	FCGX_Request rq;

	(void)arg;
	FCGX_InitRequest(&rq, sock, 0);
	while (FCGX_Accept_r(&rq) >= 0) {
		FCGX_PutStr(resp, sizeof(resp) - 1, rq.out);
		FCGX_Finish_r(&rq);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int procs, threads;

	if (argc != 4) {
		fprintf(stderr, "usage: fcgi_hello SOCKET PROCS THREADS\n");
		return 2;
	}
	procs = (int)strtol(argv[2], NULL, 10);
	threads = (int)strtol(argv[3], NULL, 10);
	FCGX_Init();
	unlink(argv[1]);
	sock = FCGX_OpenSocket(argv[1], 1024);
	if (sock < 0)
		return 1;
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			pthread_t t;

			prctl(PR_SET_PDEATHSIG, SIGTERM);
			for (int i = 1; i < threads; i++)
				pthread_create(&t, NULL, serve, NULL);
			serve(NULL);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	return 0;
}
