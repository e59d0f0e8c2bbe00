#include "guest/protocol.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>

static int is_plain_byte(unsigned char byte)
{
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9'))
        return 1;
    return strchr("._/+:,@-", byte) != NULL && byte != '\0';
}

size_t vmm_percent_encode(const char *input, char *output, size_t output_size)
{
    static const char hex_digits[] = "0123456789ABCDEF";
    size_t used = 0;
    for (const unsigned char *cursor = (const unsigned char *)input; *cursor; ++cursor) {
        size_t needed = is_plain_byte(*cursor) ? 1 : 3;
        if (used + needed + 1 > output_size)
            return 0;
        if (needed == 1) {
            output[used++] = (char)*cursor;
        } else {
            output[used++] = '%';
            output[used++] = hex_digits[*cursor >> 4];
            output[used++] = hex_digits[*cursor & 0xf];
        }
    }
    if (used + 1 > output_size)
        return 0;
    output[used] = '\0';
    return used;
}

static int hex_value(char digit)
{
    if (digit >= '0' && digit <= '9')
        return digit - '0';
    if (digit >= 'a' && digit <= 'f')
        return digit - 'a' + 10;
    if (digit >= 'A' && digit <= 'F')
        return digit - 'A' + 10;
    return -1;
}

int vmm_percent_decode(const char *input, size_t length, char *output, size_t output_size)
{
    size_t used = 0;
    for (size_t index = 0; index < length; ++index) {
        char byte = input[index];
        if (byte == '%') {
            if (index + 2 >= length)
                return -1;
            int high = hex_value(input[index + 1]);
            int low = hex_value(input[index + 2]);
            if (high < 0 || low < 0)
                return -1;
            byte = (char)(high << 4 | low);
            if (byte == '\0')
                return -1;
            index += 2;
        }
        if (used + 1 >= output_size)
            return -1;
        output[used++] = byte;
    }
    output[used] = '\0';
    return 0;
}

void vmm_guest_command_free(struct vmm_guest_command *command)
{
    for (int index = 0; index < command->argument_count; ++index)
        free(command->arguments[index]);
    command->argument_count = 0;
    command->arguments[0] = NULL;
    for (int index = 0; index < command->environment_count; ++index)
        free(command->environment[index]);
    command->environment_count = 0;
    command->environment[0] = NULL;
    free(command->user);
    free(command->workdir);
    free(command->hostname);
    command->user = command->workdir = command->hostname = NULL;
}

/* Parses `length` bytes of dotted-quad IPv4 text into `address` (network order). */
static int parse_ipv4(const char *text, size_t length, unsigned int *address)
{
    char buffer[INET_ADDRSTRLEN];
    if (length == 0 || length >= sizeof(buffer))
        return -1;
    memcpy(buffer, text, length);
    buffer[length] = '\0';
    struct in_addr parsed;
    if (inet_pton(AF_INET, buffer, &parsed) != 1)
        return -1;
    *address = parsed.s_addr;
    return 0;
}

/* Parses `length` bytes of decimal digits no greater than `maximum`. */
static int parse_number(const char *text, size_t length, unsigned int maximum, unsigned int *number)
{
    unsigned long value = 0;
    if (length == 0 || length > 10)
        return -1;
    for (size_t index = 0; index < length; ++index) {
        if (text[index] < '0' || text[index] > '9')
            return -1;
        value = value * 10 + (unsigned long)(text[index] - '0');
    }
    if (value > maximum)
        return -1;
    *number = (unsigned int)value;
    return 0;
}

/* If `word` is KEY followed by a value, points `value` at it and returns 1. */
static int has_key(const char *word, size_t word_length, const char *key, const char **value, size_t *value_length)
{
    size_t key_length = strlen(key);
    if (word_length < key_length || memcmp(word, key, key_length) != 0)
        return 0;
    *value = word + key_length;
    *value_length = word_length - key_length;
    return 1;
}

/* If `word` is `key` followed by a value, stores the decoded value (freed
 * by vmm_guest_command_free()) in `*value` and returns 1; 0 for another
 * word; -1 for a malformed value, or a second one where `*value` was set. */
static int decode_keyed_word(const char *word, size_t word_length, const char *key, char **value)
{
    const char *text;
    size_t text_length;
    if (!has_key(word, word_length, key, &text, &text_length))
        return 0;
    if (*value)
        return -1;
    char *decoded = malloc(text_length + 1);
    if (!decoded)
        return -1;
    if (vmm_percent_decode(text, text_length, decoded, text_length + 1) != 0) {
        free(decoded);
        return -1;
    }
    *value = decoded;
    return 1;
}

/* "A,B,C": one to VMM_MAX_NAME_SERVERS IPv4 addresses. */
static int parse_name_servers(const char *text, size_t length, struct vmm_guest_network *network)
{
    network->name_server_count = 0;
    for (;;) {
        const char *comma = memchr(text, ',', length);
        size_t const field = comma ? (size_t)(comma - text) : length;
        if (network->name_server_count == VMM_MAX_NAME_SERVERS
            || parse_ipv4(text, field, &network->name_servers[network->name_server_count]) != 0)
            return -1;
        ++network->name_server_count;
        if (!comma)
            return 0;
        text = comma + 1;
        length -= field + 1;
    }
}

/* vmm.ip=ADDRESS/PREFIX, vmm.gw=ADDRESS, vmm.mtu=N and vmm.dns=A,B into
 * `network`; 1 if `word` is one of them, 0 if it is not, -1 if it is
 * malformed. */
static int parse_network_word(const char *word, size_t word_length, struct vmm_guest_network *network)
{
    const char *value;
    size_t value_length;
    if (has_key(word, word_length, VMM_CMDLINE_IP_KEY, &value, &value_length)) {
        const char *slash = memchr(value, '/', value_length);
        unsigned int prefix = 0;
        if (!slash || parse_ipv4(value, (size_t)(slash - value), &network->address) != 0
            || parse_number(slash + 1, value_length - (size_t)(slash - value) - 1, 32, &prefix) != 0)
            return -1;
        network->prefix_length = (int)prefix;
        network->configured = 1;
        return 1;
    }
    if (has_key(word, word_length, VMM_CMDLINE_GATEWAY_KEY, &value, &value_length))
        return parse_ipv4(value, value_length, &network->gateway) == 0 ? 1 : -1;
    if (has_key(word, word_length, VMM_CMDLINE_MTU_KEY, &value, &value_length))
        return parse_number(value, value_length, 65535, &network->mtu) == 0 && network->mtu >= 68 ? 1 : -1;
    if (has_key(word, word_length, VMM_CMDLINE_DNS_KEY, &value, &value_length))
        return parse_name_servers(value, value_length, network) == 0 ? 1 : -1;
    return 0;
}

/* "ROWSxCOLUMNS", each 1 to 65535. */
static int parse_window_size(const char *text, size_t length, struct vmm_guest_command *command)
{
    unsigned long values[2] = { 0, 0 };
    int field = 0;
    size_t digits = 0;
    for (size_t index = 0; index < length; ++index) {
        char byte = text[index];
        if (byte == 'x' && field == 0 && digits > 0) {
            field = 1;
            digits = 0;
            continue;
        }
        if (byte < '0' || byte > '9' || digits == 5)
            return -1;
        values[field] = values[field] * 10 + (unsigned long)(byte - '0');
        ++digits;
    }
    if (field != 1 || digits == 0 || values[0] == 0 || values[1] == 0 || values[0] > 65535 || values[1] > 65535)
        return -1;
    command->window_rows = (unsigned short)values[0];
    command->window_columns = (unsigned short)values[1];
    return 0;
}

void vmm_console_data_input(struct termios *settings)
{
    settings->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | IGNPAR | PARMRK | INPCK | ISTRIP | INLCR | IGNCR | ICRNL | IUCLC | IXON
                                    | IXANY | IXOFF | IMAXBEL);
    settings->c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOPRT | ECHOKE | ISIG | XCASE | TOSTOP);
    settings->c_lflag |= ICANON | IEXTEN;
    settings->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    /* RTS flow control: a full line discipline makes the 8250 driver drop
     * RTS, and vmm's UART holds input back until it rises again, so a
     * command that reads slowly loses nothing (hvc0 ignores the flag: its
     * virtqueue holds input back by itself). */
    settings->c_cflag |= CS8 | CRTSCTS;
    /* _POSIX_VDISABLE is 0 on Linux: these then match only NUL, which vmm escapes. */
    static const int disabled[] = { VINTR, VQUIT, VERASE, VKILL, VEOL, VEOL2, VSTART, VSTOP, VSUSP, VREPRINT, VDISCARD, VWERASE };
    for (size_t index = 0; index < sizeof(disabled) / sizeof(disabled[0]); ++index)
        settings->c_cc[disabled[index]] = 0;
    settings->c_cc[VEOF] = VMM_CONSOLE_END_OF_FILE;
    settings->c_cc[VLNEXT] = VMM_CONSOLE_LITERAL_NEXT;
}

void vmm_console_data_output(struct termios *settings)
{
    settings->c_oflag &= ~(tcflag_t)OPOST;
    /* CTS flow control: vmm's UART drops CTS while the host's stdout does
     * not keep up, and the 8250 driver then stops sending, so a command
     * whose output is read slowly waits instead of losing it (hvc0 ignores
     * the flag). */
    settings->c_cflag |= CRTSCTS;
}

int vmm_parse_kernel_cmdline(const char *cmdline, struct vmm_guest_command *command)
{
    const size_t key_length = strlen(VMM_CMDLINE_ARGUMENT_KEY);
    memset(command, 0, sizeof(*command));
    const char *cursor = cmdline;
    while (*cursor) {
        while (*cursor == ' ' || *cursor == '\t' || *cursor == '\n')
            ++cursor;
        const char *word = cursor;
        while (*cursor && *cursor != ' ' && *cursor != '\t' && *cursor != '\n')
            ++cursor;
        size_t word_length = (size_t)(cursor - word);
        if (word_length == 0)
            break;
        /* Everything after "--" belongs to the kernel's init argv, not to us. */
        if (word_length == 2 && word[0] == '-' && word[1] == '-')
            break;
        if (word_length == strlen(VMM_CMDLINE_MODE_VM) && memcmp(word, VMM_CMDLINE_MODE_VM, word_length) == 0) {
            command->is_vm = 1;
            continue;
        }
        const size_t root_key_length = strlen(VMM_CMDLINE_ROOT_KEY);
        if (word_length > root_key_length && memcmp(word, VMM_CMDLINE_ROOT_KEY, root_key_length) == 0) {
            const char *value = word + root_key_length;
            size_t value_length = word_length - root_key_length;
            if (value_length == 2 && memcmp(value, "rw", 2) == 0)
                command->root_disk = VMM_ROOT_READ_WRITE;
            else if (value_length == 2 && memcmp(value, "ro", 2) == 0)
                command->root_disk = VMM_ROOT_READ_ONLY;
            else
                goto fail;
            continue;
        }
        int network_word = parse_network_word(word, word_length, &command->network);
        if (network_word < 0)
            goto fail;
        if (network_word > 0)
            continue;
        const size_t winsize_key_length = strlen(VMM_CMDLINE_WINSIZE_KEY);
        if (word_length > winsize_key_length && memcmp(word, VMM_CMDLINE_WINSIZE_KEY, winsize_key_length) == 0) {
            /* A malformed size (from --cmdline, say) leaves the console's as it is. */
            if (parse_window_size(word + winsize_key_length, word_length - winsize_key_length, command) != 0)
                command->window_rows = command->window_columns = 0;
            continue;
        }
        if (word_length == strlen(VMM_CMDLINE_STDIN_DATA) && memcmp(word, VMM_CMDLINE_STDIN_DATA, word_length) == 0) {
            command->stdin_is_data = 1;
            continue;
        }
        if (word_length == strlen(VMM_CMDLINE_STDOUT_DATA) && memcmp(word, VMM_CMDLINE_STDOUT_DATA, word_length) == 0) {
            command->stdout_is_data = 1;
            continue;
        }
        int decoded = decode_keyed_word(word, word_length, VMM_CMDLINE_USER_KEY, &command->user);
        if (decoded == 0)
            decoded = decode_keyed_word(word, word_length, VMM_CMDLINE_WORKDIR_KEY, &command->workdir);
        if (decoded == 0)
            decoded = decode_keyed_word(word, word_length, VMM_CMDLINE_HOSTNAME_KEY, &command->hostname);
        const char *value;
        size_t value_length;
        if (decoded == 0 && has_key(word, word_length, VMM_CMDLINE_ENV_KEY, &value, &value_length)) {
            if (command->environment_count == VMM_MAX_ENVIRONMENT)
                goto fail;
            decoded = decode_keyed_word(word, word_length, VMM_CMDLINE_ENV_KEY, &command->environment[command->environment_count]);
            if (decoded > 0)
                command->environment[++command->environment_count] = NULL;
        }
        if (decoded < 0)
            goto fail;
        if (decoded > 0)
            continue;
        if (word_length < key_length || memcmp(word, VMM_CMDLINE_ARGUMENT_KEY, key_length) != 0)
            continue;
        if (command->argument_count == VMM_MAX_ARGUMENTS)
            goto fail;
        char *argument = NULL;
        if (decode_keyed_word(word, word_length, VMM_CMDLINE_ARGUMENT_KEY, &argument) < 0)
            goto fail;
        command->arguments[command->argument_count++] = argument;
        command->arguments[command->argument_count] = NULL;
    }
    return 0;
fail:
    vmm_guest_command_free(command);
    return -1;
}

int vmm_exit_status_from_wait_status(int wait_status)
{
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return 255;
}
