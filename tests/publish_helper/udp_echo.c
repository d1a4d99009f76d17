/* A UDP echo server for tests/run_publish_e2e.rs: busybox has no UDP server. It binds
 * 0.0.0.0:PORT and answers each datagram with "echo:" and the datagram. Built static at
 * test time, so that it runs in the busybox rootfs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp_echo PORT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("udp_echo: bind");
        return 1;
    }
    printf("udp-ready\n");
    fflush(stdout);
    for (;;) {
        char in[512], out[600];
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            continue;
        memcpy(out, "echo:", 5);
        memcpy(out + 5, in, (size_t)n);
        sendto(fd, out, (size_t)n + 5, 0, (struct sockaddr *)&peer, len);
    }
}
