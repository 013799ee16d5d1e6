/* Every Asterisk header the twinning module uses, in the order Asterisk requires:
 * asterisk.h first (it pulls in autoconfig.h and the compat layer the others expect). */

/* Externally built modules must name the function that returns their own handle; the
 * module never calls it through the header macros, it passes its handle explicitly. */
#define AST_MODULE_SELF_SYM __twinning_module_self

#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/utils.h>
#include <asterisk/strings.h>
#include <asterisk/config.h>
#include <asterisk/astdb.h>
#include <asterisk/cli.h>
#include <asterisk/manager.h>
#include <asterisk/pbx.h>
#include <asterisk/channel.h>
#include <asterisk/paths.h>
#include <asterisk/app.h>
#include <asterisk/frame.h>
#include <asterisk/file.h>
#include <asterisk/bridge.h>
#include <asterisk/bridge_basic.h>
#include <asterisk/bridge_roles.h>
#include <asterisk/causes.h>
#include <asterisk/callerid.h>
#include <asterisk/devicestate.h>
#include <asterisk/cdr.h>
#include <asterisk/dial.h>
#include <asterisk/res_prometheus.h>
#include <asterisk/stasis_channels.h>
#include <time.h>
