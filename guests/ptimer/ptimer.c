/* ptimer: the vtimer test, for the EL1 physical timer (CNTP_*, INTID 30) that the
 * hypervisor emulates (see guests/vtimer/vtimer.c). */
#define PHYSICAL_TIMER 1
#include "../vtimer/vtimer.c"
