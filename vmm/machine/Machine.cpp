#include "machine/Machine.h"
#include "common/Error.h"
namespace vmm {
int boot(BootOptions const&) { throw Error("boot is not implemented yet"); }
}
