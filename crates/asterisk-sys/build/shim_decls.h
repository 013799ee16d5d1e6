/* Declarations of the symbols build/shim.c defines, for bindgen. */
#include <stddef.h>
extern const char twinning_ast_buildopt_sum[];
extern const char twinning_ast_gpl_key[];
extern const void *const twinning_config_status_filemissing;
extern const void *const twinning_config_status_fileunchanged;
extern const void *const twinning_config_status_fileinvalid;
struct ast_channel;
int twinning_channel_caller(struct ast_channel *chan, char *number, size_t number_len, char *name, size_t name_len);
void twinning_set_outgoing_identity(struct ast_channel *chan, const char *number, const char *name, int withheld);
void twinning_channel_dnid(struct ast_channel *chan, char *out, size_t out_len);
void twinning_channel_language(struct ast_channel *chan, char *out, size_t out_len);
void twinning_softhangup(struct ast_channel *chan);
struct ast_channel *twinning_originate(const char *tech, const char *resource, const char *cid_num, const char *accountcode, int timeout_ms, int *answered_after_ms, int *cause);
int twinning_continue_as(struct ast_channel *chan, const char *cid_number, const char *accountcode, const char *context, const char *exten);
struct ast_str;
void twinning_str_append(struct ast_str **out, const char *text);
void twinning_leg_accounts(struct ast_channel *peer, struct ast_channel *caller, const char *accountcode);
void twinning_publish_dial_begin(struct ast_channel *caller, struct ast_channel *peer, const char *dialstring);
void twinning_dial_end_failed(struct ast_channel *caller, struct ast_channel *peer, const char *status, int cause_to_caller);
void twinning_dial_end_answered(struct ast_channel *caller, struct ast_channel *peer);
void twinning_set_peeraccount(struct ast_channel *chan, const char *accountcode);
