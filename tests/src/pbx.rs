//! A small PBX for call tests: Asterisk with PJSIP on loopback, a caller endpoint, the
//! desk phone `desk1001` and the `mobile-trunk`, each pointing at a SIPp phone, and a
//! dialplan that runs `Twinning()` and reports the outcome with a UserEvent.

use crate::asterisk::{Instance, InstanceConfig};
use crate::sipp::free_udp_port;

/// Modules a twinned SIP call needs besides the defaults.
pub const CALL_MODULES: &[&str] = &[
    "res_pjproject.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_pubsub.so",
    "chan_pjsip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_dtmf_info.so",
    "res_rtp_asterisk.so",
    "res_timing_timerfd.so",
    "codec_ulaw.so",
    "codec_gsm.so",
    "format_gsm.so",
    "format_wav.so",
    "bridge_simple.so",
    "bridge_native_rtp.so",
    // A conference from the mobile: the call's basic bridge mixes three.
    "bridge_softmix.so",
    "app_dial.so",
    "func_base64.so",
    "func_callerid.so",
    "app_playback.so",
    "app_authenticate.so",
    "app_stack.so",
    "res_musiconhold.so",
    "bridge_holding.so",
    "app_read.so",
    // Lamps: hints watched over SIP (dialog-info), and DEVICE_STATE().
    "res_pjsip_outbound_publish.so",
    "res_pjsip_exten_state.so",
    "res_pjsip_dialog_info_body_generator.so",
    "func_devstate.so",
];

/// Ports of the SIPp phones the PBX points at.
#[derive(Debug, Clone, Copy)]
pub struct PhonePorts {
    pub desk: u16,
    pub mobile: u16,
    pub desk2: u16,
}

impl PhonePorts {
    pub fn new() -> Self {
        PhonePorts { desk: free_udp_port(), mobile: free_udp_port(), desk2: free_udp_port() }
    }
}

impl Default for PhonePorts {
    fn default() -> Self {
        Self::new()
    }
}

pub fn pjsip_conf(sip_port: u16, ports: PhonePorts) -> String {
    let endpoint = |name: &str, context: &str, extra: &str, contact: &str| {
        format!(
            "[{name}]\ntype=endpoint\ncontext={context}\ndisallow=all\nallow=ulaw\ndirect_media=no\n\
             rtp_symmetric=yes\nmedia_address=127.0.0.1\nbind_rtp_to_media_address=yes\naors={name}\n{extra}\n\
             [{name}]\ntype=aor\n{contact}\n\n"
        )
    };
    // A user's desk is also the phone the user dials feature codes and the key from, as on
    // a real desk: identified by its SIP user, naming its twinning user as the sample
    // dialplan expects (set_var), with its extension as caller ID. DTMF either way: the
    // tests key PINs by SIP INFO and mid-call codes by RFC 4733.
    let desk = |ext: &str, port: u16| {
        endpoint(
            &format!("desk{ext}"),
            "twinning-features",
            &format!("dtmf_mode=auto_info\ncallerid=Extension {ext} <{ext}>\nset_var=TWINNING_USER={ext}\n"),
            &format!("contact=sip:desk@127.0.0.1:{port}"),
        )
    };
    let plain = |name: &str, contact: &str| endpoint(name, "twinning-calls", "dtmf_mode=rfc4733\n", contact);
    // A phone of the site that is not 1002's desk but claims to be 1002 (its caller ID
    // and the variable the sample dialplan reads): what a forged From or a careless
    // endpoint gives. The module must refuse it whatever the dialplan passes on.
    let intruder = endpoint(
        "intruder",
        "twinning-features",
        "dtmf_mode=auto_info\ncallerid=Mallory <1002>\nset_var=TWINNING_USER=1002\n",
        "max_contacts=1",
    );
    format!(
        "[transport-udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:{sip_port}\n\n{intruder}{}{}{}{}",
        plain("caller", "max_contacts=1"),
        desk("1001", ports.desk),
        desk("1002", ports.desk2),
        plain("mobile-trunk", &format!("contact=sip:127.0.0.1:{}", ports.mobile)),
    )
}

/// Dialplan: extension 1001 and 1002 run Twinning with `${TOPTS}`-free options given here;
/// the DIDs 51001 and 51002 reach them by Goto, as an inbound route would; 7<number> calls
/// 1001 from caller number <number>, 70 from a caller with no number. `twinning-consult` is
/// a consult context (for tests that set `consult_context`): it reports who the call
/// presents and is billed to, and rings extension <n>'s desk.
pub fn extensions_conf(options: &str) -> String {
    format!(
        "[general]\n[default]\n\
         exten => 2000,1,UserEvent(TwinningTransferred,Channel: ${{CHANNEL}})\n same => n,Answer()\n same => n,Wait(3)\n same => n,Hangup()\n\
         [twinning-consult]\nexten => _X.,1,UserEvent(TwinningConsultDialed,Number: ${{EXTEN}},CallerId: ${{CALLERID(num)}},Account: ${{CHANNEL(accountcode)}})\n same => n,Dial(PJSIP/desk${{EXTEN}},30)\n same => n,Hangup()\n\
         [twinning-listen]\nexten => s,1,Read(DIGITS,,2,,,10)\n same => n,UserEvent(TwinningDigits,Digits: ${{DIGITS}})\n same => n,Wait(1)\n same => n,Hangup()\n\
         [twinning-button-test]\nexten => s,1,TwinningButton(${{BASE64_DECODE(${{TARGS64}})}})\n same => n,UserEvent(TwinningButtonResult,Tag: ${{TTAG}},Result: ${{TWINNINGBUTTON}},Error: ${{TWINNINGERROR}})\n same => n,Hangup()\n\
         {}\n#include extensions_twinning.conf\n[twinning-features](+)\ninclude => twinning-calls\n[twinning-calls]\n\
         exten => _5100X,1,Goto(${{EXTEN:1}},1)\n\
         exten => _7X.,1,Set(CALLERID(num)=${{EXTEN:1}})\n same => n,Goto(1001,1)\n\
         exten => 70,1,Set(CALLERID(num)=)\n same => n,Goto(1001,1)\n\
         exten => 69,1,Set(CALLERID(pres)=prohib)\n same => n,Goto(1001,1)\n\
         exten => _100X,1,Twinning(${{EXTEN}},{options})\n\
          same => n,UserEvent(TwinningResult,Status: ${{TWINNINGSTATUS}},AnsweredBy: ${{TWINNINGANSWEREDBY}})\n\
          same => n,Hangup()\n",
        crate::dialplan::CONTEXT
    )
}

pub const TWINNING_CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09
answer_guard = 0

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
enabled = yes

[1002]
desk = PJSIP/desk1002
mobile = 07700900456
enabled = yes
";

/// The shipped sample dialplan's feature codes (without its own twinning-calls context,
/// which the tests define to report results).
fn features_sample() -> String {
    let sample = std::fs::read_to_string(
        crate::module_build::workspace_root().join("asterisk-module/conf/extensions_twinning.conf.sample"),
    )
    .expect("read the sample dialplan");
    sample.split("[twinning-calls]").next().unwrap().to_owned()
}

/// Starts the PBX with `twinning_conf` and `options` for Twinning().
pub fn start(twinning_conf: &str, options: &str, ports: PhonePorts) -> Instance {
    start_with(twinning_conf, options, ports, |c| c)
}

/// As [`start`], with more configuration (modules, files) from `more`.
pub fn start_with(
    twinning_conf: &str,
    options: &str,
    ports: PhonePorts,
    more: impl FnOnce(InstanceConfig) -> InstanceConfig,
) -> Instance {
    let sip_port = free_udp_port();
    let mut config = InstanceConfig::default()
        .file("twinning.conf", twinning_conf)
        .file("pjsip.conf", &pjsip_conf(sip_port, ports))
        .file("extensions.conf", &extensions_conf(options))
        .file("rtp.conf", "[general]\nrtpstart=30000\nrtpend=40000\n; No ICE: gathering candidates resolves the host name and A.ROOT-SERVERS.NET, which\n; blocks SIP threads where there is no DNS.\nicesupport=no\n")
        .file("extensions_twinning.conf", &features_sample());
    config.modules.extend(CALL_MODULES.iter().map(|m| m.to_string()));
    config.sip_port = sip_port;
    Instance::start(more(config))
}
