/* The header compiles on its own (it is the first include), twice (include guard), with strict
 * warnings, as C and as C++ (the runner compiles this file both ways). */
#include "parla.h"
#include "parla.h"

int main(void) {
  ParlaCallConfig cfg;
  ParlaCallStats stats;
  cfg.size = sizeof cfg;
  stats.size = sizeof stats;
  (void)stats;
  return parla_call_config_default(&cfg) == PARLA_OK ? 0 : 1;
}
