/* es_table: the one table of GSMA ES functions (ES1, ES2, ES3, ES4, ES7 of the SGP.02 v3 WSDLs):
 * each entry names the function, its interface, who may call it, its input and output fields and
 * whether it is synchronous, asynchronous or a notification. The SOAP and REST bindings, the role
 * check and the OpenAPI description are all driven from it; handlers are bound at run time. */
#ifndef SM_ES_TABLE_H
#define SM_ES_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "net/es_value.h"
#include "net/status.h"

/* ---- interfaces and roles ------------------------------------------------------------------ */

typedef enum es_iface { ES_IF_ES1 = 1, ES_IF_ES2, ES_IF_ES3, ES_IF_ES4, ES_IF_ES7 } es_iface;
const char *es_iface_name(es_iface i); /* "ES2" */
/* Parses "ES2"/"es2"; 0 when unknown. */
es_iface es_iface_parse(const char *s, size_t n);

typedef enum es_role { ES_ROLE_NONE = 0, ES_ROLE_MNO, ES_ROLE_M2MSP, ES_ROLE_EUM, ES_ROLE_SMDP, ES_ROLE_SMSR } es_role;
#define ES_R(role) (1u << (role))
#define ES_R_MNO ES_R(ES_ROLE_MNO)
#define ES_R_M2MSP ES_R(ES_ROLE_M2MSP)
#define ES_R_EUM ES_R(ES_ROLE_EUM)
#define ES_R_SMDP ES_R(ES_ROLE_SMDP)
#define ES_R_SMSR ES_R(ES_ROLE_SMSR)
const char *es_role_name(es_role r);       /* "mno", "m2msp", "eum", "smdp", "smsr", "none" */
es_role es_role_parse(const char *s);      /* ES_ROLE_NONE when unknown */

/* ---- field descriptors --------------------------------------------------------------------- */

typedef enum es_ftype {
    EST_STRING = 1, /* ESV_STR */
    EST_HEX,        /* hexBinary payload -> ESV_BYTES */
    EST_INT,        /* ESV_INT (decimal) */
    EST_BOOL,       /* ESV_BOOL (true/false/1/0) */
    EST_DATETIME,   /* xs:dateTime kept as text, ESV_STR */
    EST_STRUCT,     /* ESV_STRUCT described by sub */
    EST_XML,        /* foreign XML subtree (ds:Signature content) kept verbatim as text, ESV_STR */
} es_ftype;

typedef enum es_check {
    ESC_NONE = 0,
    ESC_OID,     /* ObjectIdentifierType */
    ESC_HEXSTR,  /* identifier in hexBinary kept as text (EID, AID, TAR): even count of hex digits */
    ESC_ICCID,   /* 89[0-9fF]{4,18} */
    ESC_DIGITS,  /* IMSI / MSISDN: digits only, length by minlen/maxlen */
    ESC_VERSION, /* \d+.\d+.\d+ */
    ESC_ENUM,    /* one of choices "A|B|C" */
} es_check;

enum {
    ES_F_ATTR = 1,      /* carried as an XML attribute (still a plain member in the value tree) */
    ES_F_KEEP_XML = 2,  /* SOAP: also keep the element's exclusive canonical XML (no comments) as the text
                         * member "<name>@c14n" beside it — what a signature over it covers (EumSignedInfo) */
};
enum { ES_T_LENIENT = 1 }; /* type flag: missing mandatory members and unknown children tolerated (EIS) */

typedef struct es_type es_type;

typedef struct es_field {
    const char *name;    /* XSD element (or attribute) name, exact spelling emitted on the wire */
    es_ftype type;
    uint16_t min;        /* minOccurs */
    uint16_t max;        /* maxOccurs; 0 = unbounded; > 1 or 0 makes it a list */
    uint16_t flags;      /* ES_F_* */
    es_check check;
    const char *choices; /* ESC_ENUM */
    uint32_t minlen;     /* EST_HEX: bytes; text: characters (ESC_HEXSTR: bytes) */
    uint32_t maxlen;     /* 0 = no limit */
    int64_t lo, hi;      /* EST_INT bounds when lo < hi */
    const es_type *sub;  /* EST_STRUCT */
} es_field;

struct es_type {
    const char *name;    /* XSD type name ("EISType"), also the OpenAPI schema name */
    const es_field *fields;
    size_t n;
    unsigned flags;      /* ES_T_* */
};

static inline bool es_field_repeated(const es_field *f) { return f->max != 1; }

/* ---- functions ----------------------------------------------------------------------------- */

typedef enum es_mode {
    ES_SYNC = 1, /* response in the same HTTP exchange */
    ES_ASYNC,    /* accepted at once (HTTP 202); the response element is sent later to ReplyTo */
    ES_NOTIFY,   /* one-way notification, acknowledged at HTTP level */
} es_mode;

typedef struct es_function {
    const char *name;        /* "GetEIS", "HandleProfileEnabledNotification" */
    es_iface iface;
    es_mode mode;
    unsigned callers;        /* ES_R_* roles that may call it on this appliance; 0 = we only send it */
    unsigned provider;       /* ES_R_* role that serves it (async responses come from this role) */
    const es_type *in;       /* request or notification body (base fields excluded) */
    const es_type *out;      /* response body (base fields excluded); NULL for notifications */
    const char *req_action;  /* wsa:Action we send with a request / notification */
    const char *resp_action; /* wsa:Action of the response (sync) or the asynchronous callback */
    const char *doc;
} es_function;

extern const es_function es_functions[];
extern const size_t es_nfunctions;

/* Lookup by interface and name ("GetEIS"), or by body element name ("ES2-GetEISRequest",
 * "ES3-CreateISDPResponse", "ES3-HandleProfileEnabledNotification"): *kind tells which. */
typedef enum es_kind { ES_KIND_REQUEST = 1, ES_KIND_RESPONSE, ES_KIND_NOTIFICATION } es_kind;
const es_function *es_function_find(es_iface iface, const char *name);
const es_function *es_function_by_element(const char *element, es_kind *kind);
/* "ES2.GetEIS" */
const es_function *es_function_by_qname(const char *qname);
/* Body element name for a kind: "ES2-GetEISRequest" (notifications have no suffix). */
void es_function_element(const es_function *f, es_kind kind, char *out, size_t cap);
/* Whether this appliance serves a message of this kind of f from a caller with role r:
 * requests and notifications from f->callers; async responses (callbacks) from f->provider when we
 * are the requester side (ES3 at the SM-DP, ES7 at the SM-SR). */
bool es_function_allows(const es_function *f, es_kind kind, es_role r);
bool es_function_served(const es_function *f, es_kind kind);

/* ---- calls: what a handler sees ------------------------------------------------------------- */

typedef enum es_binding { ES_BIND_SOAP = 1, ES_BIND_REST } es_binding;

#define ES_ID_MAX 128
#define ES_URL_MAX 512

/* The authenticated stakeholder behind a connection (net/peer.c fills it from the client certificate). */
typedef struct es_peer {
    char id[ES_ID_MAX];          /* GSMA identifier from es.peers; empty when unknown */
    es_role role;                /* ES_ROLE_NONE when the certificate matches no es.peers entry */
    char endpoint[ES_URL_MAX];   /* its configured ES base URL (may be empty) */
    char subject[256];           /* certificate subject (RFC 2253) */
    char fingerprint[65];        /* SHA-256 of the certificate, lowercase hex */
    bool known;
} es_peer;

/* Request header fields (SOAP: WS-Addressing headers + BaseRequestType; REST: the "header" object). */
typedef struct es_header {
    char fcid[256];               /* FunctionCallIdentifier */
    long validity;                /* ValidityPeriod in seconds, 0 = absent */
    char message_id[256];         /* wsa:MessageID */
    char relates_to[256];         /* wsa:RelatesTo (responses) */
    char reply_to[ES_URL_MAX];    /* wsa:ReplyTo/Address, optional */
    char from[ES_URL_MAX];        /* wsa:From/Address */
    char to[ES_URL_MAX];          /* wsa:To */
    char action[256];             /* wsa:Action */
    char requester[ES_ID_MAX];    /* FunctionRequesterIdentifier as the caller stated it, optional */
} es_header;

/* Where the asynchronous result of a call goes; a plain value: copy it, store it, use it later
 * (possibly after a restart) with es_server_reply_async(). */
typedef struct es_reply_to {
    char qname[48];               /* "ES3.CreateISDP" */
    es_binding binding;
    char relates_to[256];         /* the request's MessageID */
    char fcid[256];               /* the request's FunctionCallIdentifier */
    char address[ES_URL_MAX];     /* ReplyTo address, else the peer's endpoint */
    char peer_id[ES_ID_MAX];      /* who to send it to (trust for the outbound TLS check) */
    es_role peer_role;
} es_reply_to;

typedef struct es_call {
    const es_function *fn;
    es_kind kind;
    es_binding binding;
    es_peer caller;
    es_header hdr;
    es_value *in;                 /* decoded fields (request / notification / response body) */
    es_status in_status;          /* kind == RESPONSE: the status the provider reported */
    es_value *out;                /* handler fills (requests); an empty struct on entry */
    es_status status;             /* handler sets; success on entry */
    void *worker;                 /* the worker running the handler (sm_worker *: HSM session, DB connection) */
    bool in_tx;                   /* the ES layer holds a transaction on the worker's database connection:
                                   * the handler works inside it (savepoints only, never commit) */
    time_t received;              /* reception time (ValidityPeriod counts from here) */
    /* ES_ASYNC requests: set deferred = true to answer later with es_server_reply_async(reply);
     * otherwise status/out are sent as the asynchronous response as soon as the handler returns. */
    bool deferred;
    es_reply_to reply;
} es_call;

/* True when the call's ValidityPeriod (counted from reception) has elapsed at now: the function
 * then ends with status Expired, 1.6/5.3 (es_status_expired). No ValidityPeriod: never. */
bool es_call_expired(const es_call *c, time_t now);
void es_status_expired(es_status *st);

/* Runs on a worker thread; may block on the HSM and the database. */
typedef void (*es_handler_fn)(es_call *call, void *arg);

/* One ES message as the bindings decode and encode it: a request, an (asynchronous) response or a
 * notification of one function, with its header, status (responses) and body fields. */
typedef struct es_msg {
    const es_function *fn;
    es_kind kind;
    es_header hdr;
    es_status status;             /* responses: FunctionExecutionStatus */
    time_t proc_start, proc_end;  /* responses: ProcessingStart/End, 0 = omitted */
    long acceptable_validity;     /* responses: AcceptableValidityPeriod, 0 = omitted */
    es_value *body;               /* owned by whoever filled the message */
} es_msg;

void es_msg_clear(es_msg *m); /* frees the body, zeroes the message */

/* Validates a decoded tree against a type: mandatory members, repetition, lengths, checks.
 * On failure fills st (Failed, 1.6/2.2 or 2.1, Message naming the field path) and returns false. */
bool es_validate(const es_type *t, const es_value *v, es_status *st);
/* Types and values only, no mandatory members: for responses that report a failure (their outputs
 * are mandatory "on success" only). */
bool es_validate_lenient(const es_type *t, const es_value *v, es_status *st);

/* Answer for a function without a handler: Failed 1.6/3.1 "function ES2.X is not supported". */
void es_status_unsupported(es_status *st, const es_function *f);

#endif
