/* The few things the module needs that only exist as preprocessor macros, turned into
 * symbols. bindgen cannot evaluate a macro that concatenates string literals, so the exact
 * bytes of AST_BUILDOPT_SUM and ASTERISK_GPL_KEY come from the C compiler here. */
#include "wrapper.h"
#include <asterisk/buildopts.h>
#include <asterisk/format_cache.h>
#include <asterisk/format_cap.h>

const char twinning_ast_buildopt_sum[] = AST_BUILDOPT_SUM;
const char twinning_ast_gpl_key[] = ASTERISK_GPL_KEY;

/* Sentinel pointers ast_config_load2() returns instead of a config. */
const void *const twinning_config_status_filemissing = CONFIG_STATUS_FILEMISSING;
const void *const twinning_config_status_fileunchanged = CONFIG_STATUS_FILEUNCHANGED;
const void *const twinning_config_status_fileinvalid = CONFIG_STATUS_FILEINVALID;

/* Channel access that needs the channel lock, which is a macro (ao2_lock). */

/* Copies the caller's number and name, empty where not valid. */
int twinning_channel_caller(struct ast_channel *chan, char *number, size_t number_len, char *name, size_t name_len)
{
	struct ast_party_caller *caller;
	int presentation;

	ast_channel_lock(chan);
	caller = ast_channel_caller(chan);
	ast_copy_string(number, S_COR(caller->id.number.valid, caller->id.number.str, ""), number_len);
	ast_copy_string(name, S_COR(caller->id.name.valid, caller->id.name.str, ""), name_len);
	presentation = ast_party_id_presentation(&caller->id);
	ast_channel_unlock(chan);
	/* Withheld: anything but "allowed" in the restriction bits (restricted, unavailable). */
	return (presentation & AST_PRES_RESTRICTION) != AST_PRES_ALLOWED;
}

/* Sets who an outgoing leg shows as calling: its caller id, and its connected line, which
 * is what channel drivers (PJSIP's From and P-Asserted-Identity) present to the far end.
 * Both are copied by Asterisk. */
void twinning_set_outgoing_identity(struct ast_channel *chan, const char *number, const char *name, int withheld)
{
	struct ast_party_connected_line connected;
	/* Withheld stays withheld: chan_pjsip then sends an anonymous From, or the identity
	 * in P-Asserted-Identity with Privacy: id to a trunk trusted with it (trust_id_outbound),
	 * as it does for Dial. */
	int presentation = withheld ? AST_PRES_PROHIB_USER_NUMBER_NOT_SCREENED : AST_PRES_ALLOWED_USER_NUMBER_NOT_SCREENED;

	ast_party_connected_line_init(&connected);
	connected.id.number.valid = 1;
	connected.id.number.str = (char *) number;
	connected.id.number.presentation = presentation;
	if (!ast_strlen_zero(name)) {
		connected.id.name.valid = 1;
		connected.id.name.str = (char *) name;
		connected.id.name.presentation = presentation;
	}
	connected.source = AST_CONNECTED_LINE_UPDATE_SOURCE_UNKNOWN;
	ast_channel_lock(chan);
	ast_channel_set_connected_line(chan, &connected, NULL);
	ast_channel_unlock(chan);
	ast_set_callerid(chan, number, S_OR(name, NULL), number);
	ast_channel_lock(chan);
	ast_channel_caller(chan)->id.number.presentation = presentation;
	ast_channel_caller(chan)->id.name.presentation = presentation;
	ast_channel_unlock(chan);
}

/* Copies the number the caller dialed (the DNID), which Asterisk keeps across Goto and
 * Local channels; empty where the channel driver set none. */
void twinning_channel_dnid(struct ast_channel *chan, char *out, size_t out_len)
{
	ast_channel_lock(chan);
	ast_copy_string(out, S_OR(ast_channel_dialed(chan)->number.str, ""), out_len);
	ast_channel_unlock(chan);
}

/* Copies the channel's language, for prompts. */
void twinning_channel_language(struct ast_channel *chan, char *out, size_t out_len)
{
	ast_channel_lock(chan);
	ast_copy_string(out, ast_channel_language(chan), out_len);
	ast_channel_unlock(chan);
}

/* Asks a channel's servicing thread to hang it up; the reason is an anonymous enum. */
void twinning_softhangup(struct ast_channel *chan)
{
	ast_softhangup(chan, AST_SOFTHANGUP_DEV);
}

/* Mobile Direct Access: the call goes on in the dialplan as the twinning user would dial,
 * `exten` in `context` at priority 1, showing `cid_number` (the user's extension) as its
 * caller ID number and billed to `accountcode` where given. The caller ID name is kept.
 * ast_explicit_goto allows for the priority the PBX adds when the application returns.
 * The user's identity is set only once the goto is done: a refused goto leaves the call
 * as it was, never going on in the dialplan as the user. */
int twinning_continue_as(struct ast_channel *chan, const char *cid_number, const char *accountcode, const char *context, const char *exten)
{
	if (ast_explicit_goto(chan, context, exten, 1)) {
		return -1;
	}
	ast_set_callerid(chan, cid_number, NULL, cid_number);
	if (!ast_strlen_zero(accountcode)) {
		ast_channel_lock(chan);
		ast_channel_accountcode_set(chan, accountcode);
		ast_channel_unlock(chan);
	}
	return 0;
}

/* Mobile Callback: places a call to `tech`/`resource` (the user's own remote destination
 * through mobile_dial) presenting `cid_num`, billed to `accountcode` where given (the
 * user's: the call back is the user's call), and waits up to `timeout_ms` for the answer.
 * Returns the answered channel (the request's reference, the caller's to hang up or hand
 * to a PBX) with `*answered_after_ms` set, or NULL with `*cause` set. */
struct ast_channel *twinning_originate(const char *tech, const char *resource, const char *cid_num, const char *accountcode, int timeout_ms, int *answered_after_ms, int *cause)
{
	struct ast_format_cap *cap = ast_format_cap_alloc(AST_FORMAT_CAP_FLAG_DEFAULT);
	struct ast_channel *chan;
	struct timeval start;
	int remaining = timeout_ms;

	*cause = 0;
	*answered_after_ms = -1;
	if (!cap) {
		return NULL;
	}
	ast_format_cap_append(cap, ast_format_ulaw, 0);
	chan = ast_request(tech, cap, NULL, NULL, resource, cause);
	ao2_ref(cap, -1);
	if (!chan) {
		return NULL;
	}
	twinning_set_outgoing_identity(chan, cid_num, "", 0);
	if (!ast_strlen_zero(accountcode)) {
		ast_channel_lock(chan);
		ast_channel_accountcode_set(chan, accountcode);
		ast_channel_unlock(chan);
	}
	start = ast_tvnow();
	if (ast_call(chan, resource, 0)) {
		*cause = ast_channel_hangupcause(chan);
		ast_hangup(chan);
		return NULL;
	}
	while (remaining > 0) {
		struct ast_frame *f;
		int sub;

		remaining = ast_waitfor(chan, remaining);
		if (remaining <= 0) {
			break;
		}
		f = ast_read(chan);
		if (!f) {
			break;
		}
		if (f->frametype != AST_FRAME_CONTROL) {
			ast_frfree(f);
			continue;
		}
		sub = f->subclass.integer;
		ast_frfree(f);
		if (sub == AST_CONTROL_ANSWER) {
			*answered_after_ms = (int) ast_tvdiff_ms(ast_tvnow(), start);
			return chan;
		}
		if (sub == AST_CONTROL_BUSY || sub == AST_CONTROL_CONGESTION || sub == AST_CONTROL_HANGUP) {
			break;
		}
	}
	*cause = ast_channel_hangupcause(chan);
	ast_hangup(chan);
	return NULL;
}

/* Bills a leg as app_dial does: accountcode and peeraccount from the caller
 * (ast_channel_req_accountcodes), then, where the twinning user has one, the user's account
 * code on the leg, which the CDR shows as the row's peeraccount. Before ast_call, as
 * app_dial sets them. */
void twinning_leg_accounts(struct ast_channel *peer, struct ast_channel *caller, const char *accountcode)
{
	ast_channel_lock_both(peer, caller);
	ast_channel_req_accountcodes(peer, caller, AST_CHANNEL_REQUESTOR_BRIDGE_PEER);
	if (!ast_strlen_zero(accountcode)) {
		ast_channel_accountcode_set(peer, accountcode);
	}
	ast_channel_unlock(caller);
	ast_channel_unlock(peer);
}

/* Publishes the start of a dial of `peer` from `caller`, as app_dial does after ast_call,
 * so the CDR engine gives the leg a row of its own. The CDR takes the row's lastdata from
 * the caller's application data when it records the dial: it shows `dialstring` for that
 * moment, so each row names what it dialed, as a Dial row names its dial string. The
 * caller's own data is put back at once (the pointer is only borrowed meanwhile). */
void twinning_publish_dial_begin(struct ast_channel *caller, struct ast_channel *peer, const char *dialstring)
{
	const char *saved;

	ast_channel_lock(caller);
	saved = ast_channel_data(caller);
	ast_channel_data_set(caller, dialstring);
	ast_channel_publish_snapshot(caller);
	ast_channel_unlock(caller);
	ast_channel_publish_dial(caller, peer, dialstring, NULL);
	ast_channel_lock(caller);
	ast_channel_data_set(caller, saved);
	ast_channel_publish_snapshot(caller);
	ast_channel_unlock(caller);
}

/* Ends the dial of a peer that ended on its own, as app_dial does: the caller takes the
 * peer's hangup cause (so the caller's own row after the dial reads as Dial's would), and
 * the dial ends with `status`, or without one the status for that cause. Not the cause
 * when the peer is a call the user placed from the caller mid-call (a consult). */
void twinning_dial_end_failed(struct ast_channel *caller, struct ast_channel *peer, const char *status,
	int cause_to_caller)
{
	int cause;

	ast_channel_lock(peer);
	cause = ast_channel_hangupcause(peer);
	ast_channel_unlock(peer);
	if (cause && cause_to_caller) {
		ast_channel_lock(caller);
		ast_channel_hangupcause_set(caller, cause);
		ast_channel_unlock(caller);
	}
	if (!status) {
		status = cause ? ast_hangup_cause_to_dial_status(cause) : "CANCEL";
	}
	ast_channel_publish_dial(caller, peer, NULL, status);
}

/* Ends the dial of the peer that joins the caller, as app_dial does on an answer. */
void twinning_dial_end_answered(struct ast_channel *caller, struct ast_channel *peer)
{
	ast_channel_lock_both(caller, peer);
	ast_channel_hangupcause_set(caller, AST_CAUSE_NORMAL_CLEARING);
	ast_channel_hangupcause_set(peer, AST_CAUSE_NORMAL_CLEARING);
	ast_channel_unlock(peer);
	ast_channel_unlock(caller);
	ast_channel_publish_dial(caller, peer, NULL, "ANSWER");
}

/* Appends `text` to a dynamic string (ast_str_append is an inline of varargs). */
void twinning_str_append(struct ast_str **out, const char *text)
{
	ast_str_append(out, 0, "%s", text);
}

/* A consult through a Local channel places its call as the user: Local gives the dialplan
 * half the outbound half's peeraccount as its accountcode (ast_unreal_call_setup), so the
 * user's code goes there too. */
void twinning_set_peeraccount(struct ast_channel *chan, const char *accountcode)
{
	ast_channel_lock(chan);
	ast_channel_peeraccount_set(chan, accountcode);
	ast_channel_unlock(chan);
}
