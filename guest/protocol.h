/*
 * The contract between vmm and guest/init, shared by the VMM (C++), the
 * container runtime and the init itself (static C). Keeping it in one file
 * means the port numbers and the command encoding cannot drift apart.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* guest/init writes the command's exit status (one byte) to this port. */
#define VMM_EXIT_STATUS_PORT 0xf4
/* guest/init writes one byte here when it is up; the VMM timestamps it. */
#define VMM_BOOT_MARKER_PORT 0xf5
/* On arm64, which has no I/O ports, guest/init writes the same bytes to this
 * physical address (the exit status) and the next one (the boot marker)
 * through /dev/mem: vmm's report page, outside RAM (vmm/arch/aarch64/Layout.h). */
#define VMM_REPORT_MMIO_ADDRESS 0x09001000

/* The container runtime starts init with this first argument. In a
 * container, /proc/cmdline is the host kernel's, which holds vmm.mode=vm
 * when vmm booted the host itself: init takes its mode from its argv. */
#define VMM_CONTAINER_OPTION "--container"

/* In the container, init's next argument may be this option with the
 * number of an fd (a pipe to vmm) that init writes one byte to once it is
 * up, then closes: the container's boot marker. */
#define VMM_MARKER_FD_OPTION "--marker-fd="

/* What vmm prints, under --timings or -v, when init's boot marker arrives. */
#define VMM_BOOT_MARKER_LINE "vmm: boot marker"

/* In the container, init's options before "--" may also be these: the
 * command's user (-u), working directory (-w) and one environment variable
 * each (-e), as the VM's init gets them from vmm.user=, vmm.workdir= and
 * vmm.env= words. */
#define VMM_USER_OPTION "--user="
#define VMM_WORKDIR_OPTION "--workdir="
#define VMM_ENV_OPTION "--env="

/* Kernel command-line keys. Dotted names are ignored by the kernel's own
 * parser and are not passed on to init's argv or environment. */
#define VMM_CMDLINE_MODE_VM "vmm.mode=vm"
#define VMM_CMDLINE_ARGUMENT_KEY "vmm.arg="
/* The command's user ("USER[:GROUP]"), working directory and environment
 * variables ("KEY=VALUE", one per word), percent-encoded as vmm.arg= is. */
#define VMM_CMDLINE_USER_KEY "vmm.user="
#define VMM_CMDLINE_WORKDIR_KEY "vmm.workdir="
#define VMM_CMDLINE_ENV_KEY "vmm.env="
/* The guest's hostname (vmm boot --hostname), instead of /etc/hostname's. */
#define VMM_CMDLINE_HOSTNAME_KEY "vmm.hostname="
/* Present when vmm booted its own initramfs: guest/init mounts /dev/vda
 * (ext4) with this access ("rw" or "ro") and switches to it. */
#define VMM_CMDLINE_ROOT_KEY "vmm.root="
#define VMM_ROOT_DEVICE "/dev/vda"
/* The guest's eth0 (vmm boot --net bridge): its IPv4 address with the
 * prefix length ("10.88.0.5/16"), the default route's gateway and the MTU. */
#define VMM_CMDLINE_IP_KEY "vmm.ip="
#define VMM_CMDLINE_GATEWAY_KEY "vmm.gw="
#define VMM_CMDLINE_MTU_KEY "vmm.mtu="
/* The IPv4 name servers guest/init shows read-only at /etc/resolv.conf,
 * comma-separated ("vmm.dns=192.0.2.53,192.0.2.54"); at most as many as the
 * C library reads. */
#define VMM_CMDLINE_DNS_KEY "vmm.dns="
#define VMM_MAX_NAME_SERVERS 3
#define VMM_GUEST_INTERFACE "eth0"
/* The host terminal's size when vmm started, "vmm.winsize=ROWSxCOLUMNS":
 * guest/init sets it on the console (TIOCSWINSZ) before it starts the
 * command, on ttyS0 and hvc0 alike. */
#define VMM_CMDLINE_WINSIZE_KEY "vmm.winsize="
/* vmm's stdin is not a terminal (a pipe, a file, /dev/null): the console
 * carries data, not typing. guest/init sets vmm_console_data_input() on it
 * and vmm sends the bytes escaped by the rules below, then VEOF at their end. */
#define VMM_CMDLINE_STDIN_DATA "vmm.stdin=data"
/* vmm's stdout is not a terminal: guest/init turns output processing off
 * (no "\n" -> "\r\n"), so that what the command writes arrives byte for byte. */
#define VMM_CMDLINE_STDOUT_DATA "vmm.stdout=data"

/*
 * Data input through the console's canonical line discipline. The console
 * stays canonical, so that VEOF can end the input: the command reads what
 * came and then end of file, as from a pipe. Every other special character
 * is disabled (no echo, no signals, no flow control, no erasing), and vmm
 * sends the three bytes that stay special (NUL, VEOF and VLNEXT itself)
 * behind VLNEXT, which makes the next byte literal. A line is at most
 * VMM_CONSOLE_LINE_PUSH bytes: vmm sends VEOF after that many bytes without
 * a newline, which hands the partial line to the reader (the line
 * discipline keeps at most 4095), and at the end one VEOF on an empty line
 * (two when the data does not end with a newline).
 */
#define VMM_CONSOLE_END_OF_FILE 0x04  /* VEOF, Ctrl-D */
#define VMM_CONSOLE_LITERAL_NEXT 0x16 /* VLNEXT, Ctrl-V */
#define VMM_CONSOLE_LINE_PUSH 2048

struct termios;
/* Makes `settings` (a console's) carry data input as described above. */
void vmm_console_data_input(struct termios *settings);
/* Turns output processing off in `settings`. */
void vmm_console_data_output(struct termios *settings);

/* The exit status guest/init reports when it cannot switch to the root disk. */
#define VMM_INIT_FAILURE_STATUS 125

/* The most arguments, and environment variables, init takes from the
 * kernel command line. */
#define VMM_MAX_ARGUMENTS 64
#define VMM_MAX_ENVIRONMENT 64

/*
 * Percent-encodes `input` so that it survives the kernel command line as one
 * word: bytes outside [A-Za-z0-9._/+:,@-] become %XX. Returns the length of
 * the encoded text (without the terminating zero), or 0 if it does not fit
 * in `output_size` bytes.
 */
size_t vmm_percent_encode(const char *input, char *output, size_t output_size);

/*
 * Decodes `length` bytes of percent-encoded text into `output` (zero
 * terminated). Returns 0 on success, -1 on a malformed escape or if the
 * result does not fit.
 */
int vmm_percent_decode(const char *input, size_t length, char *output, size_t output_size);

enum vmm_root_disk {
    VMM_ROOT_NONE,       /* No vmm.root=: the kernel mounted the root (or there is none). */
    VMM_ROOT_READ_WRITE, /* vmm.root=rw */
    VMM_ROOT_READ_ONLY,  /* vmm.root=ro */
};

/* What guest/init sets on VMM_GUEST_INTERFACE; all zero without vmm.ip=.
 * Addresses in network byte order. */
struct vmm_guest_network {
    int configured;                    /* vmm.ip= was given. */
    unsigned int address;
    int prefix_length;                 /* 0 to 32. */
    unsigned int gateway;              /* 0: no default route. */
    unsigned int mtu;                  /* 0: the driver's default. */
    unsigned int name_servers[VMM_MAX_NAME_SERVERS]; /* vmm.dns=, network byte order. */
    int name_server_count;
};

struct vmm_guest_command {
    int is_vm;                         /* vmm.mode=vm was on the command line. */
    struct vmm_guest_network network;  /* vmm.ip=, vmm.gw=, vmm.mtu=, vmm.dns= */
    enum vmm_root_disk root_disk;      /* What init mounts from VMM_ROOT_DEVICE. */
    unsigned short window_rows;        /* vmm.winsize=; both 0 when absent. */
    unsigned short window_columns;
    int stdin_is_data;                 /* vmm.stdin=data */
    int stdout_is_data;                /* vmm.stdout=data */
    int argument_count;                /* Number of vmm.arg= words. */
    char *arguments[VMM_MAX_ARGUMENTS + 1]; /* Decoded, NULL terminated. */
    char *user;                        /* vmm.user=, decoded; NULL when absent. */
    char *workdir;                     /* vmm.workdir=, decoded; NULL when absent. */
    char *hostname;                    /* vmm.hostname=, decoded; NULL when absent. */
    int environment_count;             /* Number of vmm.env= words. */
    char *environment[VMM_MAX_ENVIRONMENT + 1]; /* Decoded "KEY=VALUE", NULL terminated. */
};

/*
 * Parses a kernel command line (the text of /proc/cmdline). Fills `command`
 * with the mode, the root disk (vmm.root=), the network settings, the window
 * size (vmm.winsize=), the console modes (vmm.stdin=, vmm.stdout=), the
 * decoded vmm.user=, vmm.workdir=, vmm.hostname= and vmm.env= values and the decoded vmm.arg=
 * words, in order (a malformed vmm.winsize= counts as
 * absent). Returns 0 on success and -1 on a malformed or oversized argument,
 * an unknown vmm.root= value, or a malformed vmm.ip=, vmm.gw= or vmm.mtu=;
 * the caller frees the
 * arguments with vmm_guest_command_free().
 */
int vmm_parse_kernel_cmdline(const char *cmdline, struct vmm_guest_command *command);
void vmm_guest_command_free(struct vmm_guest_command *command);

/*
 * Turns a wait status into the exit status a shell would report: the exit
 * code of a process that exited, 128 + the signal number of one that was
 * killed.
 */
int vmm_exit_status_from_wait_status(int wait_status);

#ifdef __cplusplus
}
#endif
