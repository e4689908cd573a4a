/* Compiled as C99 and as C++ by the harness.header_* tests: the public
 * header must stand alone in both languages with every warning an error. */
#include <supervisor.h>

int header_check_uses_everything(void);

int header_check_uses_everything(void)
{
    pid_ppid_info_t info = { 1, 0, 0ULL, 0ULL };
    supervisor_engine_ops_t ops = { sizeof(supervisor_engine_ops_t), 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    supervisor_resource_kind_t kind = SUPERVISOR_RES_PATH;
    supervisor_state_t state = supervisor_container_state("x");
    (void)info;
    (void)ops;
    (void)kind;
    return (int)state;
}
