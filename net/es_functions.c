/* The ES function entries and the XSD types they use (GSMA SGP.02 v3, namespace
 * http://namespaces.gsma.org/esim-messaging/3; /work/shared/spec/wsdl). Adding a function: one
 * es_functions[] line (and its types), then bind its handler (es_server_bind). */
#include "net/es_table.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TYPE(var, nm, fl) const es_type var = {nm, var##_f, N(var##_f), fl}

/* field makers: name, minOccurs, maxOccurs (0 = unbounded) */
#define STR(nm, mn, mx, len) {.name = nm, .type = EST_STRING, .min = mn, .max = mx, .maxlen = len}
#define OID(nm, mn, mx) {.name = nm, .type = EST_STRING, .min = mn, .max = mx, .check = ESC_OID, .maxlen = 128}
#define EID(nm, mn) {.name = nm, .type = EST_STRING, .min = mn, .max = 1, .check = ESC_HEXSTR, .minlen = 1, .maxlen = 32}
#define ICCID(nm, mn, mx) {.name = nm, .type = EST_STRING, .min = mn, .max = mx, .check = ESC_ICCID}
#define AID(nm, mn, mx) {.name = nm, .type = EST_STRING, .min = mn, .max = mx, .check = ESC_HEXSTR, .minlen = 5, .maxlen = 16}
#define HEXID(nm, mn, mx, l0, l1) {.name = nm, .type = EST_STRING, .min = mn, .max = mx, .check = ESC_HEXSTR, .minlen = l0, .maxlen = l1}
#define HEX(nm, mn, mx) {.name = nm, .type = EST_HEX, .min = mn, .max = mx}
#define INT(nm, mn, mx, l, h) {.name = nm, .type = EST_INT, .min = mn, .max = mx, .lo = l, .hi = h}
#define BOOL(nm, mn) {.name = nm, .type = EST_BOOL, .min = mn, .max = 1}
#define DT(nm, mn) {.name = nm, .type = EST_DATETIME, .min = mn, .max = 1, .maxlen = 64}
#define VER(nm, mn) {.name = nm, .type = EST_STRING, .min = mn, .max = 1, .check = ESC_VERSION, .maxlen = 32}
#define ENUM(nm, mn, ch) {.name = nm, .type = EST_STRING, .min = mn, .max = 1, .check = ESC_ENUM, .choices = ch}
#define SUB(nm, mn, mx, t) {.name = nm, .type = EST_STRUCT, .min = mn, .max = mx, .sub = &t}
#define ATTR(nm, ty, ck, l0, l1) {.name = nm, .type = ty, .min = 1, .max = 1, .flags = ES_F_ATTR, .check = ck, .minlen = l0, .maxlen = l1}

#define INT_MAXV 9223372036854775807LL

/* ---- common types (euicc.common.types.xsd) ---------------------------------------------------- */

static const es_field subaddr_f[] = {
    {.name = "Imsi", .type = EST_STRING, .min = 0, .max = 1, .check = ESC_DIGITS, .maxlen = 15},
    {.name = "Msisdn", .type = EST_STRING, .min = 0, .max = 1, .check = ESC_DIGITS, .minlen = 3, .maxlen = 15},
};
static TYPE(subaddr, "SubscriptionAddressType", 0);

static const es_field pol2rule_f[] = {
    ENUM("Subject", 1, "PROFILE"),
    ENUM("Action", 1, "ENABLE|DISABLE|DELETE"),
    ENUM("Qualification", 1, "Not-Allowed|Auto-Delete"),
};
static TYPE(pol2rule, "POL2RuleType", 0);

static const es_field pol2_f[] = {SUB("Rule", 0, 0, pol2rule)};
static TYPE(pol2, "POL2Type", 0);

static const es_field keycomp_f[] = {
    ATTR("type", EST_STRING, ESC_HEXSTR, 1, 1),
    ATTR("value", EST_HEX, ESC_NONE, 0, 0),
};
static TYPE(keycomp, "KeyComponentType", 0);

static const es_field key_f[] = {
    INT("Index", 1, 1, 0, 127),
    SUB("KeyComponents", 1, 0, keycomp),
    ATTR("kcv", EST_HEX, ESC_NONE, 0, 0),
};
static TYPE(key, "KeyType", 0);

static const es_field gpcert_f[] = {
    INT("Index", 1, 1, 0, 127),
    OID("CaId", 1, 1),
    HEX("Value", 1, 1),
};
static TYPE(gpcert, "GPCertificateType", 0);

/* Keyset holds a choice (0..128) of Key | Certificate; carried here as two repeated members. */
static const es_field keyset_f[] = {
    INT("Version", 1, 1, 1, 127),
    ENUM("Type", 0, "SCP03|SCP80|SCP81|TokenGeneration|ReceiptVerification|CA"),
    INT("Cntr", 0, 1, 0, INT_MAXV),
    SUB("Key", 0, 128, key),
    SUB("Certificate", 0, 128, gpcert),
};
static TYPE(keyset, "KeysetType", 0);

static const es_field sd_f[] = {
    AID("Aid", 1, 1),
    HEXID("Tar", 0, 0, 3, 3),
    HEXID("Sin", 1, 1, 0, 16),
    HEXID("Sdin", 1, 1, 0, 16),
    ENUM("Role", 1, "ISD-R|ECASD"),
    SUB("Keyset", 1, 127, keyset),
};
static TYPE(sd, "SecurityDomainType", 0);

static const es_field caps_f[] = {
    BOOL("CattpSupport", 1), VER("CattpVersion", 0), BOOL("HttpSupport", 1),
    VER("HttpVersion", 0),   VER("SecurePacketVersion", 1), VER("RemoteProvisioningVersion", 1),
};
static TYPE(caps, "EuiccCapabilitiesType", 0);

static const es_field eumsigned_f[] = {
    EID("Eid", 1),
    OID("Eum-id", 1, 1),
    DT("ProductionDate", 1),
    STR("PlatformType", 1, 1, 100),
    VER("PlatformVersion", 1),
    AID("Isd-p-loadfile-aid", 1, 1),
    AID("Isd-p-module-aid", 1, 1),
    SUB("Ecasd", 1, 1, sd),
    SUB("EuiccCapabilities", 1, 1, caps),
};
static TYPE(eumsigned, "EumSignedInfoType", 0);

static const es_field profinfo_f[] = {
    ICCID("Iccid", 1, 1),
    AID("Isd-p-aid", 1, 1),
    OID("Mno-id", 1, 1),
    BOOL("FallbackAttribute", 1),
    SUB("SubscriptionAddress", 1, 1, subaddr),
    ENUM("State", 1, "Created|Disabled|Enabled"),
    OID("Smdp-id", 0, 1),
    STR("ProfileType", 0, 1, 100),
    INT("AllocatedMemory", 1, 1, 0, INT_MAXV),
    INT("FreeMemory", 0, 1, 0, INT_MAXV),
    SUB("pol2", 1, 1, pol2),
};
static TYPE(profinfo, "ProfileInfoType", 0);

static const es_field statusdata_f[] = {
    OID("Subject", 1, 1),
    OID("Reason", 1, 1),
    STR("SubjectIdentifier", 0, 1, 0),
    STR("Message", 0, 1, 0),
};
static TYPE(statusdata, "StatusCodeDataType", 0);

static const es_field execstatus_f[] = {
    ENUM("Status", 1, "EXECUTED_SUCCESS|EXECUTED_WITHWARNING|FAILED|EXPIRED"),
    SUB("StatusCodeData", 0, 1, statusdata),
};
static TYPE(execstatus, "ExecutionStatusType", 0);

static const es_field audrec_f[] = {
    EID("Eid", 1),
    OID("Smsr-id", 1, 1),
    DT("OperationDate", 1),
    HEXID("OperationType", 1, 1, 2, 2),
    OID("RequesterId", 0, 1),
    SUB("OperationExecutionStatus", 0, 1, execstatus),
    AID("Isd-p-aid", 0, 1),
    ICCID("Iccid", 0, 1),
    HEX("Imei", 0, 1),
    HEX("Meid", 0, 1),
};
static TYPE(audrec, "AuditTrailRecordType", 0);

static const es_field audtrail_f[] = {SUB("Record", 0, 0, audrec)};
static TYPE(audtrail, "AuditTrailType", 0);

static const es_field prop_f[] = {
    ATTR("key", EST_STRING, ESC_NONE, 1, 0),
    {.name = "value", .type = EST_STRING, .min = 1, .max = 1, .flags = ES_F_ATTR},
};
static TYPE(prop, "PropertyType", 0);

static const es_field addprops_f[] = {SUB("Property", 1, 0, prop)};
static TYPE(addprops, "AdditionalPropertiesType", 0);

/* EISType: decoded leniently (eis.md §4: peers send partial EIS) and never schema-validated strictly. */
static const es_field eis_f[] = {
    {.name = "EumSignedInfo", .type = EST_STRUCT, .min = 1, .max = 1, .flags = ES_F_KEEP_XML, .sub = &eumsigned},
    {.name = "EumSignature", .type = EST_XML, .min = 1, .max = 1},
    INT("RemainingMemory", 1, 1, 0, INT_MAXV),
    INT("AvailableMemoryForProfiles", 1, 1, 0, INT_MAXV),
    DT("LastAuditDate", 0),
    OID("Smsr-id", 1, 1),
    SUB("ProfileInfo", 0, 0, profinfo),
    SUB("Isd-r", 1, 1, sd),
    SUB("AuditTrail", 0, 1, audtrail),
    SUB("AdditionalProperties", 0, 1, addprops),
};
static TYPE(eis, "EISType", ES_T_LENIENT);

/* ---- function bodies (euicc.request.ES*.xsd; base fields excluded) ------------------------------ */

static const es_field empty_f[1] = {{0}};
static const es_type empty = {"Empty", empty_f, 0, 0};

static const es_field es1_register_in_f[] = {SUB("Eis", 1, 1, eis)};
static TYPE(es1_register_in, "ES1-RegisterEISRequest", 0);

static const es_field eis_out_f[] = {SUB("Eis", 0, 1, eis)};
static TYPE(eis_out, "EisResult", 0);

static const es_field es2_geteis_in_f[] = {EID("Eid", 1), OID("Smsr-id", 1, 1)};
static TYPE(es2_geteis_in, "ES2-GetEISRequest", 0);

static const es_field es2_download_in_f[] = {
    EID("Eid", 1), OID("SmSr-id", 1, 1), STR("ProfileType", 0, 1, 0), ICCID("Iccid", 0, 1), BOOL("EnableProfile", 1),
};
static TYPE(es2_download_in, "ES2-DownloadProfileRequest", 0);
static const es_field es2_download_out_f[] = {ICCID("Iccid", 0, 1)};
static TYPE(es2_download_out, "ES2-DownloadProfileResponse", 0);

static const es_field es2_pol2_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), OID("Smsr-id", 1, 1), SUB("pol2", 0, 1, pol2)};
static TYPE(es2_pol2_in, "ES2-UpdatePolicyRulesRequest", 0);

static const es_field es2_subaddr_in_f[] = {
    EID("Eid", 1), OID("Smsr-id", 1, 1), ICCID("Iccid", 1, 1), SUB("newSubscriptionAddress", 1, 1, subaddr),
};
static TYPE(es2_subaddr_in, "ES2-UpdateSubscriptionAddressRequest", 0);

static const es_field es2_enable_in_f[] = {EID("Eid", 1), OID("SmSr-id", 1, 1), ICCID("Iccid", 1, 1)};
static TYPE(es2_enable_in, "ES2-EnableProfileRequest", 0);
static const es_field es2_disable_in_f[] = {EID("Eid", 1), OID("Smsr-id", 1, 1), ICCID("Iccid", 1, 1)};
static TYPE(es2_disable_in, "ES2-DisableProfileRequest", 0);
static const es_field es2_delete_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), OID("Smsr-id", 1, 1)};
static TYPE(es2_delete_in, "ES2-DeleteProfileRequest", 0);

static const es_field notif_ts_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), DT("CompletionTimestamp", 1)};
static TYPE(notif_ts, "ProfileNotification", 0);
static const es_field notif_ts_lc_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), DT("completionTimestamp", 1)};
static TYPE(notif_ts_lc, "ProfileNotificationLc", 0);
static const es_field notif_smsr_f[] = {SUB("Eis", 1, 1, eis), DT("CompletionTimestamp", 1)};
static TYPE(notif_smsr, "SMSRChangeNotification", 0);

static const es_field es3_geteis_in_f[] = {EID("Eid", 1)};
static TYPE(es3_geteis_in, "GetEISRequest", 0);

static const es_field es3_audit_in_f[] = {EID("Eid", 1), ICCID("Iccid", 0, 0)};
static TYPE(es3_audit_in, "AuditEISRequest", 0);

static const es_field es3_createisdp_in_f[] = {
    EID("Eid", 1), ICCID("Iccid", 1, 1), OID("Mno-id", 1, 1), INT("RequiredMemory", 1, 1, 0, INT_MAXV),
    BOOL("MoreToDo", 0),
};
static TYPE(es3_createisdp_in, "ES3-CreateISDPRequest", 0);
static const es_field es3_createisdp_out_f[] = {AID("Isd-p-aid", 1, 1), HEX("EuiccResponseData", 0, 1)};
static TYPE(es3_createisdp_out, "ES3-CreateISDPResponse", 0);

static const es_field es3_senddata_in_f[] = {EID("Eid", 1), AID("Sd-aid", 1, 1), HEX("Data", 1, 1), BOOL("MoreToDo", 0)};
static TYPE(es3_senddata_in, "ES3-SendDataRequest", 0);

static const es_field euicc_resp_out_f[] = {HEX("EuiccResponseData", 0, 1)};
static TYPE(euicc_resp_out, "EuiccResponseResult", 0);

static const es_field es3_pdc_in_f[] = {
    EID("Eid", 1), ICCID("Iccid", 1, 1), STR("ProfileType", 0, 1, 0), SUB("SubscriptionAddress", 0, 1, subaddr),
    SUB("pol2", 0, 1, pol2),
};
static TYPE(es3_pdc_in, "ES3-ProfileDownloadCompletedRequest", 0);

static const es_field es3_pol2_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), SUB("pol2", 0, 1, pol2)};
static TYPE(es3_pol2_in, "ES3-UpdatePolicyRulesRequest", 0);
static const es_field es4_pol2_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), SUB("pol2", 1, 1, pol2)};
static TYPE(es4_pol2_in, "ES4-UpdatePolicyRulesRequest", 0);

static const es_field subaddr_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), SUB("newSubscriptionAddress", 1, 1, subaddr)};
static TYPE(subaddr_in, "UpdateSubscriptionAddressRequest", 0);

static const es_field eid_iccid_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1)};
static TYPE(eid_iccid, "ProfileRequest", 0);

static const es_field es3_ucp_in_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), HEX("ConnectivityParameters", 1, 1)};
static TYPE(es3_ucp_in, "ES3-UpdateConnectivityParametersRequest", 0);

static const es_field es3_notif_f[] = {EID("Eid", 1), ICCID("Iccid", 1, 1), OID("Mno-id", 1, 1), DT("CompletionTimestamp", 1)};
static TYPE(es3_notif, "ES3-ProfileNotification", 0);
static const es_field es3_notif_smsr_f[] = {SUB("Eis", 1, 1, eis), OID("Mno-id", 1, 1), DT("completionTimestamp", 1)};
static TYPE(es3_notif_smsr, "ES3-HandleSMSRChangeNotification", 0);

static const es_field es4_prep_in_f[] = {EID("Eid", 1), OID("CurrentSMSRid", 1, 1)};
static TYPE(es4_prep_in, "ES4-PrepareSMSRChangeRequest", 0);
static const es_field es4_change_in_f[] = {EID("Eid", 1), OID("Target-Smsr-id", 1, 1)};
static TYPE(es4_change_in, "ES4-SMSRChangeRequest", 0);

static const es_field es7_caks_in_f[] = {
    EID("Eid", 1),
    INT("KeyVersionNumber", 1, 1, 1, 127),
    INT("InitialSequenceCounter", 1, 1, 0, INT_MAXV),
    ENUM("ECCKeyLength", 1, "ECC-256|ECC-384|ECC-512|ECC-521"),
    INT("ScenarioParameter", 1, 1, -128, 127),
    HEX("HostId", 1, 1),
    HEX("EphemeralPublicKey", 1, 1),
    HEX("Signature", 1, 1),
};
static TYPE(es7_caks_in, "ES7-CreateAdditionalKeySetRequest", 0);
static const es_field es7_caks_out_f[] = {HEX("DerivationRandom", 1, 1), HEX("Receipt", 1, 1)};
static TYPE(es7_caks_out, "ES7-CreateAdditionalKeySetResponse", 0);

static const es_field es7_auth_in_f[] = {SUB("Eis", 1, 1, eis), HEX("SmsrCertificate", 1, 1)};
static TYPE(es7_auth_in, "ES7-AuthenticateSMSRRequest", 0);
static const es_field es7_auth_out_f[] = {HEX("RandomChallenge", 1, 1)};
static TYPE(es7_auth_out, "ES7-AuthenticateSMSRResponse", 0);

static const es_field es7_handover_in_f[] = {SUB("Eis", 1, 1, eis)};
static TYPE(es7_handover_in, "ES7-HandoverEUICCRequest", 0);

/* smbox extensions of the SM-DP (not in the GSMA WSDLs; Action URIs urn:smbox:..., docs/sm-dp.md) */
static const es_field es2_import_in_f[] = {STR("OrderFile", 1, 1, 4194304)};
static TYPE(es2_import_in, "ES2-ImportOrderRequest", 0);
static const es_field es2_import_out_f[] = {
    INT("BatchId", 0, 1, 1, INT_MAXV), INT("Quantity", 0, 1, 1, INT_MAXV), STR("MnoOutputFile", 0, 1, 0),
};
static TYPE(es2_import_out, "ES2-ImportOrderResponse", 0);
static const es_field es4_download_in_f[] = {EID("Eid", 1), STR("ProfileType", 0, 1, 0), ICCID("Iccid", 0, 1),
                                             BOOL("EnableProfile", 1)};
static TYPE(es4_download_in, "ES4-DownloadProfileRequest", 0);
static const es_field es4_download_out_f[] = {ICCID("Iccid", 0, 1)};
static TYPE(es4_download_out, "ES4-DownloadProfileResponse", 0);

/* ---- smbox extensions: not in the GSMA schema; Action URIs urn:smbox:..., docs/sm-sr.md ---------- */

static const es_field batch_rej_f[] = {
    INT("Line", 1, 1, 1, INT_MAXV), EID("Eid", 0), STR("Reason", 1, 1, 64), STR("Message", 0, 1, 0),
};
static TYPE(batch_rej, "ImportEISBatchRejectedType", 0);
static const es_field es1_batch_in_f[] = {STR("Batch", 1, 1, 0)};
static TYPE(es1_batch_in, "ES1-ImportEISBatchRequest", 0);
static const es_field es1_batch_out_f[] = {
    INT("Records", 1, 1, 0, INT_MAXV), INT("Imported", 1, 1, 0, INT_MAXV), INT("Unchanged", 1, 1, 0, INT_MAXV),
    SUB("Rejected", 0, 0, batch_rej),
};
static TYPE(es1_batch_out, "ES1-ImportEISBatchResponse", 0);

/* ---- the table -------------------------------------------------------------------------------- */

#define A "http://gsma.com/"
#define MNO ES_R_MNO
#define SP ES_R_M2MSP
#define DP ES_R_SMDP
#define SR ES_R_SMSR

const es_function es_functions[] = {
    /* ES1: EUM -> SM-SR */
    {"RegisterEIS", ES_IF_ES1, ES_SYNC, ES_R_EUM, SR, &es1_register_in, &empty,
     A "ES1/eUICCManagement/ES1-RegisterEISRequest", A "ES1/eUICCManagement/ES1-RegisterEISResponse",
     "Registers the EIS of a new eUICC at the SM-SR."},
    {"ImportEISBatch", ES_IF_ES1, ES_SYNC, ES_R_EUM, SR, &es1_batch_in, &es1_batch_out,
     "urn:smbox:es1:ImportEISBatchRequest", "urn:smbox:es1:ImportEISBatchResponse",
     "smbox extension: registers the eUICCs of an EUM batch file (docs/euicc-batch-format.md), all or nothing per "
     "record, with a report of every rejected record."},

    /* ES2: MNO -> SM-DP; notifications SM-DP -> MNO (sent only) */
    {"GetEIS", ES_IF_ES2, ES_SYNC, MNO, DP, &es2_geteis_in, &eis_out, A "ES2/DataPreparation/ES2-GetEISRequest",
     A "ES2/DataPreparation/ES2-GetEISResponse", "EIS of an eUICC (relayed to the SM-SR), filtered for the MNO."},
    {"DownloadProfile", ES_IF_ES2, ES_ASYNC, MNO, DP, &es2_download_in, &es2_download_out,
     A "ES2/ProfileManagement/ES2-DownloadProfile", A "ES2/PlatformManagement/ES2-DownloadProfileResponse",
     "Downloads and installs a profile on an eUICC, optionally enabling it."},
    {"UpdatePolicyRules", ES_IF_ES2, ES_SYNC, MNO, DP, &es2_pol2_in, &empty,
     A "ES2/ProfileManagement/ES2-UpdatePolicyRulesRequest", A "ES2/ProfileManagement/ES2-UpdatePolicyRulesResponse",
     "Replaces the POL2 of a profile (relayed as ES3.UpdatePolicyRules)."},
    {"UpdateSubscriptionAddress", ES_IF_ES2, ES_SYNC, MNO, DP, &es2_subaddr_in, &empty,
     A "ES2/ProfileManagement/ES2-UpdateSubscriptionAddressRequest",
     A "ES2/ProfileManagement/ES2-UpdateSubscriptionAddressResponse",
     "Updates the subscription address (IMSI/MSISDN) of a profile."},
    {"EnableProfile", ES_IF_ES2, ES_ASYNC, MNO, DP, &es2_enable_in, &empty, A "ES2/PlatformManagement/ES2-EnableProfile",
     A "ES2/PlatformManagement/ES2-EnableProfileResponse", "Enables a profile via the SM-DP."},
    {"DisableProfile", ES_IF_ES2, ES_ASYNC, MNO, DP, &es2_disable_in, &empty, A "ES2/PlatformManagement/ES2-DisableProfile",
     A "ES2/PlatformManagement/ES2-DisableProfileResponse", "Disables a profile via the SM-DP."},
    {"DeleteProfile", ES_IF_ES2, ES_ASYNC, MNO, DP, &es2_delete_in, &empty, A "ES2/PlatformManagement/ES2-DeleteProfile",
     A "ES2/PlatformManagement/ES2-DeleteProfileResponse", "Deletes a profile via the SM-DP (ES3.DeleteISDP)."},
    {"HandleProfileDisabledNotification", ES_IF_ES2, ES_NOTIFY, 0, MNO, &notif_ts, NULL,
     A "ES2/PlatformManagement/ES2-HandleProfileDisabledNotification", NULL,
     "SM-DP -> MNO: a profile of the MNO was disabled by another party."},
    {"HandleProfileEnabledNotification", ES_IF_ES2, ES_NOTIFY, 0, MNO, &notif_ts_lc, NULL,
     A "ES2/PlatformManagement/ES2-HandleProfileEnabledNotification", NULL,
     "SM-DP -> MNO: a profile of the MNO was enabled by another party."},
    {"HandleProfileDeletedNotification", ES_IF_ES2, ES_NOTIFY, 0, MNO, &notif_ts, NULL,
     A "ES2/PlatformManagement/ES2-HandleProfileDeletedNotification", NULL,
     "SM-DP -> MNO: a profile of the MNO was deleted by another party."},
    {"HandleSMSRChangeNotification", ES_IF_ES2, ES_NOTIFY, 0, MNO, &notif_smsr, NULL,
     A "ES2/PlatformManagement/ES2-HandleSMSRChangeNotification", NULL,
     "SM-DP -> MNO: the eUICC moved to another SM-SR."},

    /* ES3: SM-DP -> SM-SR; callbacks and notifications SM-SR -> SM-DP */
    {"GetEIS", ES_IF_ES3, ES_SYNC, DP, SR, &es3_geteis_in, &eis_out, A "ES3/ProfileManagement/ES3-GetEISRequest",
     A "ES3/ProfileManagement/ES3-GetEISResponse", "EIS of an eUICC, filtered for the SM-DP."},
    {"AuditEIS", ES_IF_ES3, ES_ASYNC, DP, SR, &es3_audit_in, &eis_out, A "ES3/ProfileManagement/ES3-AuditEISRequest",
     A "ES3/ProfileManagementCallBack/ES3-AuditEIS", "Refreshes the EIS from the eUICC."},
    {"CreateISDP", ES_IF_ES3, ES_ASYNC, DP, SR, &es3_createisdp_in, &es3_createisdp_out,
     A "ES3/ProfileManagement/ES3-CreateISDPRequest", A "ES3/ProfileManagementCallBack/ES3-CreateISDP",
     "Creates an ISD-P on the eUICC for a profile download."},
    {"SendData", ES_IF_ES3, ES_ASYNC, DP, SR, &es3_senddata_in, &euicc_resp_out,
     A "ES3/ProfileManagement/ES3-SendDataRequest", A "ES3/ProfileManagementCallBack/ES3-SendData",
     "Forwards ES8 data (already secured by the SM-DP) to an ISD-P."},
    {"ProfileDownloadCompleted", ES_IF_ES3, ES_SYNC, DP, SR, &es3_pdc_in, &empty,
     A "ES3/ProfileManagement/ES3-ProfileDownloadedCompletedRequest",
     A "ES3/ProfileManagement/ES3-ProfileDownloadedCompletedResponse", "Ends a profile download (Created -> Disabled)."},
    {"UpdatePolicyRules", ES_IF_ES3, ES_SYNC, DP, SR, &es3_pol2_in, &empty,
     A "ES3/ProfileManagement/ES3-UpdatePolicyRulesRequest", A "ES3/ProfileManagement/ES3-UpdatePolicyRulesResponse",
     "Replaces the POL2 of a profile in the EIS."},
    {"UpdateSubscriptionAddress", ES_IF_ES3, ES_SYNC, DP, SR, &subaddr_in, &empty,
     A "ES3/ProfileManagement/ES3-UpdateSubscriptionAddressRequest",
     A "ES3/PlatformManagement/ES3-UpdateSubscriptionAddressResponse", "Updates the subscription address in the EIS."},
    {"EnableProfile", ES_IF_ES3, ES_ASYNC, DP, SR, &eid_iccid, &euicc_resp_out,
     A "ES3/PlatformManagement/ES3-EnableProfileRequest", A "ES3/PlatformManagementCallBack/ES3-EnableProfile",
     "Enables a profile."},
    {"DisableProfile", ES_IF_ES3, ES_ASYNC, DP, SR, &eid_iccid, &euicc_resp_out,
     A "ES3/PlatformManagement/ES3-DisableProfileRequest", A "ES3/PlatformManagementCallBack/ES3-DisableProfile",
     "Disables a profile."},
    {"DeleteISDP", ES_IF_ES3, ES_ASYNC, DP, SR, &eid_iccid, &euicc_resp_out,
     A "ES3/PlatformManagement/ES3-DeleteISDPRequest", A "ES3/PlatformManagementCallBack/ES3-DeleteISDP",
     "Deletes an ISD-P and its profile."},
    {"UpdateConnectivityParameters", ES_IF_ES3, ES_ASYNC, DP, SR, &es3_ucp_in, &euicc_resp_out,
     A "ES3/PlatformManagement/ES3-UpdateConnectivityParametersRequest",
     A "ES3/PlatformManagementCallBack/ES3-UpdateConnectivityParameters",
     "Forwards an SCP03-protected connectivity parameters update to an ISD-P."},
    {"HandleProfileDisabledNotification", ES_IF_ES3, ES_NOTIFY, SR, DP, &es3_notif, NULL,
     A "ES3/PlatformManagement/ES3-HandleProfileDisabledNotification", NULL,
     "SM-SR -> SM-DP: a profile was disabled (forwarded to its MNO over ES2)."},
    {"HandleProfileEnabledNotification", ES_IF_ES3, ES_NOTIFY, SR, DP, &es3_notif, NULL,
     A "ES3/PlatformManagement/ES3-HandleProfileEnabledNotification", NULL,
     "SM-SR -> SM-DP: a profile was enabled (forwarded to its MNO over ES2)."},
    {"HandleProfileDeletedNotification", ES_IF_ES3, ES_NOTIFY, SR, DP, &es3_notif, NULL,
     A "ES3/PlatformManagement/ES3-HandleProfileDeletedNotification", NULL,
     "SM-SR -> SM-DP: a profile was deleted (forwarded to its MNO over ES2)."},
    {"HandleSMSRChangeNotification", ES_IF_ES3, ES_NOTIFY, SR, DP, &es3_notif_smsr, NULL,
     A "ES3/PlatformManagement/ES3-HandleSMSRChangeNotification", NULL,
     "SM-SR -> SM-DP: the eUICC moved to this SM-SR (forwarded to the MNO over ES2)."},

    /* ES4: MNO / M2M SP -> SM-SR; notifications SM-SR -> MNO (sent only) */
    {"GetEIS", ES_IF_ES4, ES_SYNC, MNO | SP, SR, &es3_geteis_in, &eis_out, A "ES4/ProfileManagement/ES4-GetEISRequest",
     A "ES4/ProfileManagement/ES4-GetEISResponse", "EIS of an eUICC, filtered for the caller."},
    {"AuditEIS", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &es3_audit_in, &eis_out, A "ES4/ProfileManagement/ES4-AuditEIS",
     A "ES4/eUICCManagement/ES4-AuditEISResponse", "Refreshes the EIS from the eUICC."},
    {"UpdatePolicyRules", ES_IF_ES4, ES_SYNC, MNO, SR, &es4_pol2_in, &empty,
     A "ES4/ProfileManagement/ES4-UpdatePolicyRulesRequest", A "ES4/ProfileManagement/ES4-UpdatePolicyRulesResponse",
     "Replaces the POL2 of a profile (never by an M2M SP)."},
    {"UpdateSubscriptionAddress", ES_IF_ES4, ES_SYNC, MNO | SP, SR, &subaddr_in, &empty,
     A "ES4/ProfileManagement/ES4-UpdateSubscriptionAddressRequest",
     A "ES4/ProfileManagement/ES4-UpdateSubscriptionAddressResponse", "Updates the subscription address in the EIS."},
    {"EnableProfile", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &eid_iccid, &euicc_resp_out,
     A "ES4/PlatformManagement/ES4-EnableProfile", A "ES4/eUICCManagement/ES4-EnableProfileResponse", "Enables a profile."},
    {"DisableProfile", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &eid_iccid, &euicc_resp_out,
     A "ES4/PlatformManagement/ES4-DisableProfile", A "ES4/eUICCManagement/ES4-DisableProfileResponse",
     "Disables a profile."},
    {"DeleteProfile", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &eid_iccid, &euicc_resp_out,
     A "ES4/PlatformManagement/ES4-DeleteProfile", A "ES4/eUICCManagement/ES4-DeleteProfileResponse", "Deletes a profile."},
    {"PrepareSMSRChange", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &es4_prep_in, &empty,
     A "ES4/eUICCManagement/ES4-PrepareSMSRChange", A "ES4/eUICCManagementCallBack/ES4-PrepareSMSRChange",
     "Prepares this (new) SM-SR to take over an eUICC."},
    {"SMSRChange", ES_IF_ES4, ES_ASYNC, MNO | SP, SR, &es4_change_in, &empty, A "ES4/eUICCManagement/ES4-SMSRChange",
     A "ES4/eUICCManagementCallBack/ES4-SMSRChange", "Hands an eUICC over from this (current) SM-SR."},
    {"HandleProfileDisabledNotification", ES_IF_ES4, ES_NOTIFY, 0, MNO, &notif_ts, NULL,
     A "ES4/PlatformManagement/ES4-HandleProfileDisabledNotification", NULL, "SM-SR -> MNO: a profile was disabled."},
    {"HandleProfileEnabledNotification", ES_IF_ES4, ES_NOTIFY, 0, MNO, &notif_ts, NULL,
     A "ES4/PlatformManagement/ES4-HandleProfileEnabledNotification", NULL, "SM-SR -> MNO: a profile was enabled."},
    {"HandleProfileDeletedNotification", ES_IF_ES4, ES_NOTIFY, 0, MNO, &notif_ts, NULL,
     A "ES4/PlatformManagement/ES4-HandleProfileDeletedNotification", NULL, "SM-SR -> MNO: a profile was deleted."},
    {"HandleSMSRChangeNotification", ES_IF_ES4, ES_NOTIFY, 0, MNO, &notif_smsr, NULL,
     A "ES4/PlatformManagement/ES4-HandleSMSRChangeNotification", NULL, "New SM-SR -> MNO: the eUICC moved."},

    /* ES7: SM-SR <-> SM-SR (all asynchronous) */
    {"CreateAdditionalKeySet", ES_IF_ES7, ES_ASYNC, SR, SR, &es7_caks_in, &es7_caks_out,
     A "ES7/eUICCManagement/ES7-CreateAdditionalKeySet", A "ES7/eUICCManagementCallBack/ES7-CreateAdditionalKeySet",
     "New SM-SR -> current SM-SR: relay the second ISD-R key establishment command."},
    {"HandoverEUICC", ES_IF_ES7, ES_ASYNC, SR, SR, &es7_handover_in, &empty, A "ES7/eUICCManagement/ES7-HandoverEUICC",
     A "ES7/eUICCManagementCallBack/ES7-HandoverEUICC", "Current SM-SR -> new SM-SR: hand the eUICC over."},
    {"AuthenticateSMSR", ES_IF_ES7, ES_ASYNC, SR, SR, &es7_auth_in, &es7_auth_out,
     A "ES7/eUICCManagement/ES7-AuthenticateSMSR", A "ES7/eUICCManagementCallBack/ES7-AuthenticateSMSR",
     "New SM-SR -> current SM-SR: relay the SM-SR certificate to the ECASD, get its challenge."},
    {"HandleSMSRChangeNotification", ES_IF_ES7, ES_NOTIFY, SR, SR, &notif_smsr, NULL,
     A "ES7/eUICCManagement/ES7-HandleSMSRChangeNotification", NULL, "SM-SR -> SM-SR: the change completed."},

    /* smbox extensions of the SM-DP (docs/sm-dp.md): absent from the GSMA WSDLs, Actions urn:smbox:... */
    {"ImportOrder", ES_IF_ES2, ES_SYNC, MNO, DP, &es2_import_in, &es2_import_out, "urn:smbox:es2:ImportOrderRequest",
     "urn:smbox:es2:ImportOrderResponse",
     "smbox extension: an MNO uploads its batch order file (docs/sm-dp-files.md); the profiles are personalised "
     "into stock and the MNO output file comes back in the answer."},
    {"DownloadProfile", ES_IF_ES4, ES_ASYNC, SP, SR, &es4_download_in, &es4_download_out,
     "urn:smbox:es4:DownloadProfileRequest", "urn:smbox:es4:DownloadProfileResponse",
     "smbox extension: the eUICC owner (M2M SP) has a profile downloaded to its eUICC managed by this SM-SR, as "
     "ES2.DownloadProfile does for an MNO; the result is the asynchronous response."},
};
const size_t es_nfunctions = N(es_functions);
