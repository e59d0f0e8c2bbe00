#include "container/Container.h"
#include "common/Error.h"
namespace vmm::container {
int run(ContainerOptions const&) { throw Error("--container is not implemented yet"); }
}
