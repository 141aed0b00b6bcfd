/*
 * The hook tools' client: every tool in a model's tools/ directory is a link to this program,
 * which forwards its name, arguments and environment, with its standard input, output and
 * error as file descriptors, to the model's tool server (localjuju/toolserver.py) over the unix
 * socket $LOCALJUJU_MODEL_DIR/tools.sock, and exits with the status the server sends back.
 * The server runs the tool in the already loaded Python code, so a call costs a connection and
 * a fork instead of a Python start. Without a server it runs the Python tool itself (FALLBACK).
 *
 * Request: SCM_RIGHTS(0, 1, 2) with a 4-byte little-endian length, then that many bytes:
 * "NARGS\0ARG0\0...ARGn\0ENV0\0...ENVm\0". Reply: a 4-byte little-endian exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef FALLBACK
#error "compile with -DFALLBACK=\"/path/to/tests/localjuju/hooktool\""
#endif

extern char **environ;

static void run_fallback(int argc, char **argv) {
    char **args = calloc((size_t)argc + 5, sizeof(char *));
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    if (args == NULL) {
        exit(1);
    }
    args[0] = "python3";
    args[1] = FALLBACK;
    args[2] = "--tool";
    args[3] = (char *)name;
    for (int i = 1; i < argc; i++) {
        args[i + 3] = argv[i];
    }
    execv("/usr/bin/python3", args);
    perror("ERROR cannot run " FALLBACK);
    exit(1);
}

static int append(char **buf, size_t *len, size_t *cap, const char *text) {
    size_t n = strlen(text) + 1;
    while (*len + n > *cap) {
        *cap = *cap * 2 + n;
        char *grown = realloc(*buf, *cap);
        if (grown == NULL) {
            return -1;
        }
        *buf = grown;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    return 0;
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int connect_server(void) {
    const char *root = getenv("LOCALJUJU_MODEL_DIR");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (root == NULL || (size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/tools.sock", root) >= sizeof addr.sun_path) {
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_request(int fd, int argc, char **argv) {
    size_t len = 0, cap = 4096;
    char *payload = malloc(cap);
    char count[16];
    snprintf(count, sizeof count, "%d", argc);
    if (payload == NULL || append(&payload, &len, &cap, count) != 0) {
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (append(&payload, &len, &cap, argv[i]) != 0) {
            return -1;
        }
    }
    for (char **env = environ; *env != NULL; env++) {
        if (append(&payload, &len, &cap, *env) != 0) {
            return -1;
        }
    }
    uint32_t size = (uint32_t)len;
    unsigned char header[4] = {size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, size >> 24};
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    if (sendmsg(fd, &msg, 0) != (ssize_t)sizeof header) {
        return -1;
    }
    int rc = write_all(fd, payload, len);
    free(payload);
    return rc;
}

static int read_status(int fd) {
    unsigned char reply[4];
    size_t got = 0;
    while (got < sizeof reply) {
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "ERROR the hook tool server ended without an answer\n");
            return 1;
        }
        got += (size_t)n;
    }
    return (int)((uint32_t)reply[0] | (uint32_t)reply[1] << 8 | (uint32_t)reply[2] << 16 | (uint32_t)reply[3] << 24);
}

int main(int argc, char **argv) {
    /* A closed standard descriptor cannot be passed on: give it /dev/null, as a shell would. */
    for (int std = 0; std <= 2; std++) {
        if (fcntl(std, F_GETFD) < 0 && open("/dev/null", std == 0 ? O_RDONLY : O_WRONLY) != std) {
            return 1;
        }
    }
    int fd = connect_server();
    if (fd < 0) {
        run_fallback(argc, argv);
    }
    if (send_request(fd, argc, argv) != 0) {
        fprintf(stderr, "ERROR cannot reach the hook tool server: %s\n", strerror(errno));
        return 1;
    }
    return read_status(fd);
}
