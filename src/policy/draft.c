/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-filled regulator documents (docs/drafts.md). Each form is a table of
 * sections and fields; a field is filled from a fact of the decision, from
 * something sluice knows (the files, the compute estimate, attestations, the
 * log), or it is a question only a person can answer. What cannot be filled
 * reads TODO(<fact key>) when a fact in docs/facts.md would fill it, else
 * TODO(<question>). Field lists: research governance-2026.md §6.
 */
#include "policy/draft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/banned.h"

/* What sluice can fill by itself. */
enum akind {
    A_NONE,
    A_MODEL,
    A_COMMIT,
    A_CREATED,
    A_DISTRIBUTION,
    A_ARCH,
    A_PARAMS,
    A_COMPUTE,
    A_COMPUTE_METHOD,
    A_TRIGGER,
    A_DEADLINE,
    A_FILES,
    A_EVALS,
    A_EVALUATORS,
    A_TRAINING_TIME,
    A_DATA_SIZE,
    A_LICENSE_TERMS,
    A_DISCLOSURE,
    A_REVENUE,
};

struct fld {
    const char *label;
    enum akind a;     /* filled by sluice, or A_NONE */
    const char *fact; /* filled from this fact (docs/facts.md), or NULL */
    const char *q;    /* the question when neither fills it */
};

struct section {
    const char *heading;
    const char *when_label; /* only when the decision has this label; NULL: always */
    const struct fld *f;
};

struct form {
    const char *id, *title, *cite, *obligation;
    const struct section *s;
};

#define END                                                                                        \
    {                                                                                              \
        NULL, A_NONE, NULL, NULL                                                                   \
    }

static const struct fld provider[] = {
    {"Provider (name, address, contact person)", A_NONE, NULL,
     "provider name, address and contact"},
    {"Authorised representative in the EU (providers established outside the EU)", A_NONE, NULL,
     "EU authorised representative, or 'established in the EU'"},
    END,
};

static const struct fld art52_model[] = {
    {"Model", A_MODEL, NULL, NULL},
    {"Version commit (SHA-256 of the version manifest)", A_COMMIT, NULL, "version commit"},
    {"Start of the large pre-training run", A_NONE, "training.date", NULL},
    END,
};
static const struct fld art52_trigger[] = {
    {"Criterion", A_TRIGGER, NULL, "criterion met: the decision found no systemic-risk trigger"},
    {"Threshold met, or foreseen before training ends", A_NONE, NULL, "met or foreseen"},
    {"Date it was met or became known", A_NONE, NULL, "date the threshold was met or known"},
    {"Notification due", A_DEADLINE, NULL, NULL},
    END,
};
static const struct fld art52_compute[] = {
    {"Cumulative training compute (two significant figures)", A_COMPUTE, "training.declared_flop",
     NULL},
    {"Estimation method, inputs and assumptions", A_COMPUTE_METHOD, "training.declared_flop", NULL},
    END,
};
static const struct fld art52_rebuttal[] = {
    {"Arguments that the model exceptionally has no systemic risk (optional): benchmarks, "
     "capability forecasts, architecture, examples, data curation, modalities, tool use, context "
     "length",
     A_NONE, NULL, "rebuttal arguments, or 'none'"},
    END,
};
static const struct section art52[] = {
    {"Provider", NULL, provider},
    {"Model", NULL, art52_model},
    {"Why the notification is made (Art. 51(2), 52(1))", NULL, art52_trigger},
    {"Training compute (Guidelines C(2025) 5045 §2.3.2)", NULL, art52_compute},
    {"No systemic risk, exceptionally (Art. 52(2))", NULL, art52_rebuttal},
    {NULL, NULL, NULL},
};

static const struct fld xi_general[] = {
    {"Tasks the model is intended to perform, and the AI systems it can be integrated into", A_NONE,
     NULL, "intended tasks and target AI systems"},
    {"Acceptable use policy", A_NONE, NULL, "acceptable use policy"},
    {"Date of placing on the market", A_NONE, "placed_on_market", NULL},
    {"Release on this registry", A_CREATED, NULL, "release date"},
    {"Methods of distribution", A_DISTRIBUTION, NULL, NULL},
    {"Architecture", A_ARCH, NULL, "architecture: the weight files did not say"},
    {"Number of parameters", A_PARAMS, "params", NULL},
    {"Output modalities", A_NONE, "modality", NULL},
    {"Input modalities and formats", A_NONE, NULL, "input modalities and formats"},
    {"Licence", A_LICENSE_TERMS, "license.spdx", NULL},
    END,
};
static const struct fld xi_process[] = {
    {"Technical means for integration (instructions of use, infrastructure, tools)", A_NONE, NULL,
     "integration means"},
    {"Design specification and training process: methods, key design choices and rationale, "
     "objective",
     A_NONE, NULL, "training methods and design choices"},
    {"Training data: type, provenance, curation methods", A_NONE, NULL,
     "data type, provenance and curation"},
    {"Number of data points (tokens)", A_DATA_SIZE, "training.tokens", NULL},
    {"Measures to detect unsuitable data sources and identifiable biases", A_NONE, NULL,
     "bias and unsuitability checks"},
    {"Computational resources used to train the model (FLOP)", A_COMPUTE, "training.declared_flop",
     NULL},
    {"How the compute was estimated", A_COMPUTE_METHOD, "training.declared_flop", NULL},
    {"Training time", A_TRAINING_TIME, "training.hardware", NULL},
    {"Known or estimated energy consumption", A_NONE, NULL, "energy consumption of training"},
    {"Weight files (this version)", A_FILES, NULL, "weight files: not listed to this account"},
    END,
};
static const struct fld xi_systemic[] = {
    {"Evaluation strategies, results, metrics and limits", A_EVALS, "evaluations", NULL},
    {"Adversarial testing, model adaptations, alignment and fine-tuning", A_NONE, NULL,
     "adversarial testing and alignment measures"},
    {"System architecture: how software components build on or feed into each other", A_NONE, NULL,
     "system architecture"},
    END,
};
static const struct section annex_xi[] = {
    {"Section 1(1): general description", NULL, xi_general},
    {"Section 1(2): development process", NULL, xi_process},
    {"Section 2: additional information for models with systemic risk", "eu.gpai-systemic-risk",
     xi_systemic},
    {NULL, NULL, NULL},
};

static const struct fld xii_general[] = {
    {"Tasks the model is intended to perform, and the AI systems it can be integrated into", A_NONE,
     NULL, "intended tasks and target AI systems"},
    {"Acceptable use policy", A_NONE, NULL, "acceptable use policy"},
    {"Date of release and methods of distribution", A_DISTRIBUTION, NULL, NULL},
    {"How the model interacts with hardware or software that is not part of it", A_NONE, NULL,
     "interaction with external hardware and software"},
    {"Versions of relevant software", A_NONE, NULL, "relevant software versions"},
    {"Architecture", A_ARCH, NULL, "architecture: the weight files did not say"},
    {"Number of parameters", A_PARAMS, "params", NULL},
    {"Output modalities", A_NONE, "modality", NULL},
    {"Input modalities and formats; maximum input size (context window)", A_NONE, NULL,
     "input modalities and context window"},
    {"Licence", A_LICENSE_TERMS, "license.spdx", NULL},
    {"Weight files (this version)", A_FILES, NULL, "weight files: not listed to this account"},
    END,
};
static const struct fld xii_process[] = {
    {"Technical means for integration", A_NONE, NULL, "integration means"},
    {"Training data: type, provenance, curation methods", A_NONE, NULL,
     "data type, provenance and curation"},
    END,
};
static const struct section annex_xii[] = {
    {"Section 1: general description", NULL, xii_general},
    {"Section 2: elements of the model and its development", NULL, xii_process},
    {NULL, NULL, NULL},
};

static const struct fld ts_general[] = {
    {"Provider and contact", A_NONE, NULL, "provider name and contact"},
    {"Authorised representative in the EU", A_NONE, NULL, "EU authorised representative"},
    {"Versioned model name", A_MODEL, NULL, NULL},
    {"Model dependencies (base model; 'none' if trained from scratch)", A_NONE, "base_model.name",
     NULL},
    {"Date of placing on the EU market", A_NONE, "placed_on_market", NULL},
    {"Modalities", A_NONE, "modality", NULL},
    {"Training data size", A_DATA_SIZE, "training.tokens", NULL},
    {"Types of content and languages", A_NONE, NULL, "content types and languages"},
    {"Latest date of data collection", A_NONE, NULL, "latest data collection date"},
    END,
};
static const struct fld ts_sources[] = {
    {"2.1 Publicly available datasets (large ones listed, others described)", A_NONE, NULL,
     "public datasets used"},
    {"2.2 Private third-party data: licensed from rightsholders; other", A_NONE, NULL,
     "licensed and other private data"},
    {"2.3 Data crawled by or for the provider: crawlers, purpose, robots.txt behaviour, period, "
     "top domains",
     A_NONE, NULL, "web crawling details"},
    {"2.4 User data from the provider's services", A_NONE, NULL, "user data used, or 'none'"},
    {"2.5 Synthetic data (modalities, generating models)", A_NONE, NULL,
     "synthetic data used, or 'none'"},
    {"2.6 Other sources", A_NONE, NULL, "other data sources, or 'none'"},
    END,
};
static const struct fld ts_processing[] = {
    {"3.1 Measures to respect text-and-data-mining opt-outs", A_NONE, NULL, "TDM opt-out measures"},
    {"3.2 Measures to remove illegal content", A_NONE, NULL, "illegal-content removal measures"},
    END,
};
static const struct section training_summary[] = {
    {"1. General information", NULL, ts_general},
    {"2. List of data sources", NULL, ts_sources},
    {"3. Data processing aspects", NULL, ts_processing},
    {NULL, NULL, NULL},
};

static const struct fld tr_all[] = {
    {"Developer's website", A_NONE, NULL, "developer website"},
    {"Mechanism for people to contact the developer", A_NONE, NULL, "contact mechanism"},
    {"Model", A_MODEL, NULL, NULL},
    {"Release date", A_CREATED, NULL, "release date"},
    {"Languages supported", A_NONE, NULL, "supported languages"},
    {"Output modalities", A_NONE, "modality", NULL},
    {"Intended uses", A_NONE, NULL, "intended uses"},
    {"Generally applicable restrictions or conditions on use", A_LICENSE_TERMS, "license.spdx",
     NULL},
    {"Frontier model basis: training compute", A_COMPUTE, "training.declared_flop", NULL},
    {"Redactions (nature of and reason for each)", A_NONE, NULL, "redactions, or 'none'"},
    END,
};
static const struct fld tr_large[] = {
    {"Summaries of catastrophic-risk assessments and their results", A_EVALS, "evaluations", NULL},
    {"Role of third-party evaluators", A_EVALUATORS, NULL, "third-party evaluator involvement"},
    {"Other steps taken under the frontier AI framework", A_NONE, NULL, "other framework steps"},
    {"Gross revenue with affiliates, preceding calendar year", A_REVENUE,
     "developer.annual_revenue_usd", NULL},
    END,
};
static const struct section ca_transparency[] = {
    {"Transparency report (Bus. & Prof. Code §22757.12(c)(1))", NULL, tr_all},
    {"Large frontier developer additions (§22757.12(c)(2))", "us-ca.large-frontier-developer",
     tr_large},
    {NULL, NULL, NULL},
};
static const struct fld ny_status[] = {
    {"Disclosure statement (§1428)", A_DISCLOSURE, NULL, NULL},
    END,
};
static const struct section ny_transparency[] = {
    {"Transparency report (Gen. Bus. Law §1421(3)(a))", NULL, tr_all},
    {"Large frontier developer additions (§1421(3)(b))", "us-ny.large-frontier-developer",
     tr_large},
    {"Status", "us-ny.large-frontier-developer", ny_status},
    {NULL, NULL, NULL},
};

static const struct fld fw_items[] = {
    {"Developer", A_NONE, NULL, "developer name"},
    {"Framework version, date and next yearly review", A_NONE, NULL,
     "framework version, publication date and review date"},
    {"Frontier models covered (this version)", A_MODEL, NULL, NULL},
    {"Training compute of this version", A_COMPUTE, "training.declared_flop", NULL},
    {"(1) National and international standards and industry best practices incorporated", A_NONE,
     NULL, "standards and best practices"},
    {"(2) Thresholds for catastrophic-risk capabilities, possibly tiered", A_NONE, NULL,
     "capability thresholds"},
    {"(3) Mitigations applied on the assessments' results", A_NONE, NULL, "mitigations applied"},
    {"(4) Review of assessments and mitigations in deployment and internal-use decisions", A_NONE,
     NULL, "deployment review"},
    {"(5) Use of third parties to assess catastrophic risk and mitigations", A_EVALUATORS, NULL,
     "third-party assessment"},
    {"(6) Revisiting the framework: triggers, and the 'substantially modified' test", A_NONE, NULL,
     "update triggers and substantial-modification test"},
    {"(7) Cybersecurity for unreleased model weights", A_NONE, NULL, "weight security"},
    {"(8) Identifying and responding to critical safety incidents", A_NONE, NULL,
     "incident response"},
    {"(9) Internal governance ensuring the framework is followed", A_NONE, NULL,
     "internal governance"},
    {"(10) Assessing and managing catastrophic risk from internal use, incl. circumventing "
     "oversight",
     A_NONE, NULL, "internal-use risk management"},
    {"Current capability evaluations of this version", A_EVALS, "evaluations", NULL},
    END,
};
static const struct section ca_framework[] = {
    {"Frontier AI framework (Bus. & Prof. Code §22757.12(a)(1)-(10))", NULL, fw_items},
    {NULL, NULL, NULL},
};

static const struct form forms[] = {
    {"eu-art52-notification",
     "Notification to the Commission (AI Office): GPAI model with systemic risk",
     "Reg. (EU) 2024/1689 Art. 52(1); Commission GPAI Guidelines C(2025) 5045 §2.3",
     "eu.art52.notification", art52},
    {"eu-annex-xi", "Technical documentation of a general-purpose AI model (Annex XI)",
     "Reg. (EU) 2024/1689 Art. 53(1)(a), Annex XI", "eu.art53.technical-documentation", annex_xi},
    {"eu-annex-xii", "Information for downstream providers (Annex XII)",
     "Reg. (EU) 2024/1689 Art. 53(1)(b), Annex XII", "eu.art53.downstream-information", annex_xii},
    {"eu-training-summary", "Public summary of the content used for training (AI Office template)",
     "Reg. (EU) 2024/1689 Art. 53(1)(d); AI Office template of 24 Jul 2025",
     "eu.art53.training-summary", training_summary},
    {"ca-sb53-transparency", "Transparency report (California SB 53)",
     "Cal. Bus. & Prof. Code §22757.12(c)", "us-ca.sb53.transparency-report", ca_transparency},
    {"ca-sb53-framework-outline", "Frontier AI framework outline (California SB 53)",
     "Cal. Bus. & Prof. Code §22757.12(a)", "us-ca.sb53.frontier-ai-framework", ca_framework},
    {"ny-raise-transparency", "Transparency report (New York RAISE Act)",
     "N.Y. Gen. Bus. Law §1421(3)", "us-ny.raise.transparency-report", ny_transparency},
};

static const char *form_ids[SL_ARRAY_LEN(forms) + 1];

const char *const *sl_draft_forms(void)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(forms); i++)
        form_ids[i] = forms[i].id;
    form_ids[SL_ARRAY_LEN(forms)] = NULL;
    return form_ids;
}

const char *sl_draft_form_title(const char *form)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(forms); i++)
        if (strcmp(forms[i].id, form) == 0)
            return forms[i].title;
    return NULL;
}

/* ---- reading the inputs ---- */

static json_t *path_get(json_t *o, const char *dotted)
{
    char part[64];
    const char *p = dotted;

    while (o && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part) || !json_is_object(o))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        o = json_object_get(o, part);
        p = dot ? dot + 1 : p + n;
    }
    return json_is_null(o) ? NULL : o;
}

static const char *sget(json_t *o, const char *dotted)
{
    const char *s = json_string_value(path_get(o, dotted));
    return s ? s : "";
}

static bool has_label(json_t *decision, const char *label)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(decision, "labels"), i, e)
    {
        if (strcmp(json_string_value(e), label) == 0)
            return true;
    }
    return false;
}

/* Renders a fact's value: strings as they are, arrays joined, numbers short. */
static void render(struct sl_buf *b, json_t *v)
{
    char num[40];

    if (json_is_string(v)) {
        sl_buf_adds(b, json_string_value(v));
    } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
        sl_buf_adds(b, sl_fmt_count((uint64_t)json_integer_value(v), num, sizeof(num)));
    } else if (json_is_number(v)) {
        sl_buf_adds(b, sl_fmt_sig(json_number_value(v), 3, num, sizeof(num)));
    } else if (json_is_boolean(v)) {
        sl_buf_adds(b, json_is_true(v) ? "yes" : "no");
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (i)
                sl_buf_adds(b, ", ");
            render(b, e);
        }
    }
}

struct ctx {
    const struct sl_draft_in *in;
    json_t *facts, *compute;
};

/* Fills `b` for an automatic field; false when the inputs cannot. */
static bool fill_auto(const struct ctx *c, enum akind a, struct sl_buf *b)
{
    json_t *v = c->in->version, *d = c->in->decision, *x, *e;
    char n1[40], n2[40];
    size_t i;

    switch (a) {
    case A_NONE:
        return false;
    case A_MODEL:
        sl_buf_addf(b, "%s, version %lld", c->in->model,
                    (long long)json_integer_value(json_object_get(v, "version")));
        return true;
    case A_COMMIT:
        sl_buf_adds(b, sget(v, "commit"));
        return b->len > 0;
    case A_CREATED:
        if (strlen(sget(v, "created")) < 10)
            return false;
        sl_buf_addf(b, "%.10s (published on this registry)", sget(v, "created"));
        return true;
    case A_DISTRIBUTION:
        sl_buf_addf(b, "sluice registry, tier %s (the policy's minimum: %s)", sget(v, "tier"),
                    sget(d, "min_tier"));
        if (strlen(sget(v, "created")) >= 10)
            sl_buf_addf(b, ", since %.10s", sget(v, "created"));
        return true;
    case A_ARCH:
        x = path_get(v, "inspect.architecture");
        if (!json_is_string(json_object_get(x, "type")))
            return false;
        sl_buf_addf(b, "%s", sget(x, "type"));
        if (json_is_integer(json_object_get(x, "layers")))
            sl_buf_addf(b, ", %lld layers",
                        (long long)json_integer_value(json_object_get(x, "layers")));
        if (json_is_integer(json_object_get(x, "hidden_size")))
            sl_buf_addf(b, ", hidden size %lld",
                        (long long)json_integer_value(json_object_get(x, "hidden_size")));
        if (json_is_integer(json_object_get(x, "experts")) &&
            json_integer_value(json_object_get(x, "experts")) > 0)
            sl_buf_addf(b, ", mixture of %lld experts",
                        (long long)json_integer_value(json_object_get(x, "experts")));
        sl_buf_addf(b, " (from the weight files: %s)", sget(v, "inspect.format"));
        return true;
    case A_PARAMS:
        x = json_object_get(c->facts, "params");
        if (!json_is_integer(x))
            return false;
        sl_buf_addf(b, "%s (from %s)",
                    sl_fmt_count((uint64_t)json_integer_value(x), n1, sizeof(n1)),
                    sget(c->facts, "sources.params"));
        x = json_object_get(c->facts, "active_params");
        if (json_is_integer(x) &&
            json_integer_value(x) != json_integer_value(json_object_get(c->facts, "params")))
            sl_buf_addf(b, ", %s active per token",
                        sl_fmt_count((uint64_t)json_integer_value(x), n1, sizeof(n1)));
        return true;
    case A_COMPUTE:
        if (!json_is_true(json_object_get(c->compute, "known")))
            return false;
        sl_buf_addf(b, "%s FLOP cumulative",
                    sl_fmt_sig(json_number_value(json_object_get(c->compute, "flop_central")), 2,
                               n1, sizeof(n1)));
        if (json_number_value(json_object_get(c->compute, "own_flop")) !=
            json_number_value(json_object_get(c->compute, "flop_central")))
            sl_buf_addf(b, " (this developer's own training: %s FLOP)",
                        sl_fmt_sig(json_number_value(json_object_get(c->compute, "own_flop")), 2,
                                   n2, sizeof(n2)));
        return true;
    case A_COMPUTE_METHOD:
        if (!json_is_true(json_object_get(c->compute, "known")))
            return false;
        json_array_foreach(json_object_get(c->compute, "methods"), i, e)
        {
            sl_buf_addf(
                b, "%s%s: %s FLOP (%s)", i ? "; " : "", sget(e, "method"),
                sl_fmt_sig(json_number_value(json_object_get(e, "flop")), 2, n1, sizeof(n1)),
                sget(e, "detail"));
        }
        sl_buf_addf(b, ". Accuracy +/-30 %% (range %s to %s FLOP)",
                    sl_fmt_sig(json_number_value(json_object_get(c->compute, "flop_low")), 2, n1,
                               sizeof(n1)),
                    sl_fmt_sig(json_number_value(json_object_get(c->compute, "flop_high")), 2, n2,
                               sizeof(n2)));
        if (json_is_object(json_object_get(c->compute, "conflict")))
            sl_buf_adds(b, ". The methods disagree by more than 30 %: the highest figure is "
                           "given (facts.compute-conflict)");
        return true;
    case A_TRIGGER:
        if (has_label(d, "eu.downstream-systemic-risk"))
            sl_buf_adds(b, "modification of a GPAI model with systemic risk using more than one "
                           "third of its training compute (Guidelines §3.2)");
        else if (has_label(d, "eu.gpai-systemic-risk"))
            sl_buf_adds(b, "Art. 51(2): cumulative training compute above 10^25 FLOP");
        else
            return false;
        return true;
    case A_DEADLINE:
        sl_buf_adds(b, "without delay and within 2 weeks of the date above (Art. 52(1))");
        return true;
    case A_FILES: {
        json_t *files = json_object_get(v, "files");
        if (!json_is_array(files) || json_array_size(files) == 0)
            return false;
        sl_buf_addf(b, "%zu files, %s bytes:", json_array_size(files),
                    sl_fmt_count((uint64_t)json_integer_value(json_object_get(v, "bytes_total")),
                                 n1, sizeof(n1)));
        json_array_foreach(files, i, e)
        {
            if (i == 20) {
                sl_buf_addf(b, " and %zu more", json_array_size(files) - 20);
                break;
            }
            sl_buf_addf(b, "%s %s (sha256 %s)", i ? ";" : "", sget(e, "path"), sget(e, "sha256"));
        }
        return true;
    }
    case A_EVALS: {
        size_t n = 0;
        json_array_foreach(c->in->attestations, i, e)
        {
            sl_buf_addf(b, "%s%s %s (signed attestation by %s, %s)", n++ ? "; " : "",
                        sget(e, "domain"), sget(e, "level"), sget(e, "evaluator"),
                        json_is_string(json_object_get(e, "method")) ? sget(e, "method")
                                                                     : "method not given");
        }
        json_array_foreach(json_object_get(c->facts, "evaluations"), i, e)
        {
            /* The registry adds attested results to the facts it re-decides
             * with; they are listed above from the attestations. */
            if (json_is_true(json_object_get(e, "attested")))
                continue;
            sl_buf_addf(b, "%s%s %s (declared in the facts%s%s)", n++ ? "; " : "",
                        sget(e, "domain"), sget(e, "level"),
                        json_is_string(json_object_get(e, "method")) ? ", " : "",
                        sget(e, "method"));
        }
        return n > 0;
    }
    case A_EVALUATORS: {
        size_t n = 0;
        json_array_foreach(c->in->attestations, i, e)
        {
            sl_buf_addf(b, "%s%s (%s)", n++ ? "; " : "", sget(e, "evaluator"), sget(e, "domain"));
        }
        return n > 0;
    }
    case A_TRAINING_TIME: {
        json_t *hw = path_get(c->facts, "training.hardware");
        double hours = 0;
        if (!json_is_array(hw) || json_array_size(hw) == 0)
            return false;
        json_array_foreach(hw, i, e)
        {
            hours += json_number_value(json_object_get(e, "hours"));
        }
        sl_buf_addf(b,
                    "%s hours of training in %zu period(s):", sl_fmt_sig(hours, 4, n1, sizeof(n1)),
                    json_array_size(hw));
        json_array_foreach(hw, i, e)
        {
            sl_buf_addf(
                b, "%s %s x %s for %s h", i ? ";" : "",
                sl_fmt_sig(json_number_value(json_object_get(e, "count")), 6, n1, sizeof(n1)),
                json_is_string(json_object_get(e, "chip")) ? sget(e, "chip") : "chips",
                sl_fmt_sig(json_number_value(json_object_get(e, "hours")), 6, n2, sizeof(n2)));
        }
        return true;
    }
    case A_DATA_SIZE: {
        x = path_get(c->facts, "training.tokens");
        if (!json_is_number(x))
            return false;
        double t = json_number_value(x);
        sl_buf_addf(b, "%s tokens (%s)", sl_fmt_sig(t, 3, n1, sizeof(n1)),
                    t < 1e9    ? "less than 1 billion"
                    : t < 1e10 ? "1 to 10 billion"
                    : t < 1e11 ? "10 to 100 billion"
                    : t < 1e12 ? "100 billion to 1 trillion"
                    : t < 1e13 ? "1 to 10 trillion"
                               : "more than 10 trillion");
        return true;
    }
    case A_LICENSE_TERMS: {
        static const char *const flags[] = {"noncommercial", "user_cap", "no_redistribution",
                                            "paid_only"};
        static const char *const words[] = {"non-commercial use only", "user cap",
                                            "no redistribution", "paid use only"};
        x = json_object_get(c->facts, "license");
        if (!json_is_string(json_object_get(x, "spdx")))
            return false;
        sl_buf_addf(b, "%s", sget(x, "spdx"));
        for (i = 0; i < SL_ARRAY_LEN(flags); i++)
            if (json_is_true(json_object_get(x, flags[i])))
                sl_buf_addf(b, "; %s", words[i]);
        return true;
    }
    case A_DISCLOSURE:
        json_array_foreach(json_object_get(c->in->obligations, "obligations"), i, e)
        {
            if (strcmp(sget(e, "id"), "us-ny.raise.disclosure-statement") == 0) {
                sl_buf_addf(b, "obligation us-ny.raise.disclosure-statement is %s",
                            sget(e, "status")[0] ? sget(e, "status") : "open");
                return true;
            }
        }
        sl_buf_adds(b, "not required by the decision");
        return true;
    case A_REVENUE:
        x = path_get(c->facts, "developer.annual_revenue_usd");
        if (!json_is_number(x))
            return false;
        sl_buf_addf(b, "USD %s", sl_fmt_sig(json_number_value(x), 3, n1, sizeof(n1)));
        return true;
    }
    return false;
}

/* One line of text: control characters become spaces, so a value can never
 * break the Markdown's structure. */
static json_t *one_line(const char *s)
{
    char *t = sl_xstrdup(s);
    json_t *j;

    for (char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    j = json_string(t);
    free(t);
    return j ? j : json_string("");
}

static void add_todo(json_t *todos, const char *t)
{
    size_t i;
    json_t *e;

    json_array_foreach(todos, i, e)
    {
        if (strcmp(json_string_value(e), t) == 0)
            return;
    }
    json_array_append_new(todos, json_string(t));
}

enum sl_err sl_draft_build(const struct sl_draft_in *in, json_t **out, struct sl_error *err)
{
    const struct form *f = NULL;
    struct ctx c;
    json_t *doc, *sections, *todos, *obl = NULL, *e;
    struct sl_buf b = SL_BUF_INIT(1 << 16);
    size_t i;

    *out = NULL;
    for (i = 0; i < SL_ARRAY_LEN(forms); i++)
        if (in->form && strcmp(forms[i].id, in->form) == 0)
            f = &forms[i];
    if (!f)
        return sl_error_set(err, SL_EUSAGE,
                            "unknown form \"%s\" (forms: eu-art52-notification, eu-annex-xi, "
                            "eu-annex-xii, eu-training-summary, ca-sb53-transparency, "
                            "ca-sb53-framework-outline, ny-raise-transparency)",
                            in->form ? in->form : "");
    if (!json_is_object(in->decision) || !json_is_object(json_object_get(in->decision, "facts")))
        return sl_error_set(err, SL_EINPUT, "%s: the server sent no decision for this version",
                            in->model);
    if (!json_is_integer(json_object_get(in->decision, "log_index")) ||
        !json_is_string(json_object_get(in->decision, "log_proof")))
        return sl_error_set(err, SL_EINPUT,
                            "%s: the decision carries no log entry and inclusion proof, so a "
                            "draft could not quote it",
                            in->model);
    memset(&c, 0, sizeof(c));
    c.in = in;
    c.facts = json_object_get(in->decision, "facts");
    c.compute = json_object_get(in->decision, "compute");

    sections = json_array();
    todos = json_array();
    for (const struct section *s = f->s; s->heading; s++) {
        json_t *fields;
        if (s->when_label && !has_label(in->decision, s->when_label))
            continue;
        fields = json_array();
        for (const struct fld *x = s->f; x->label; x++) {
            json_t *fj = json_pack("{s:s}", "label", x->label);
            json_t *fv = x->fact ? path_get(c.facts, x->fact) : NULL;
            sl_buf_reset(&b);
            if (x->a != A_NONE && fill_auto(&c, x->a, &b)) {
                json_object_set_new(fj, "value", one_line(sl_buf_cstr(&b)));
            } else if (x->a == A_NONE && fv) {
                render(&b, fv);
                json_object_set_new(fj, "value", one_line(sl_buf_cstr(&b)));
            } else {
                /* A fact that would fill it, else the question (every
                 * field sluice fills has one for when it cannot). */
                const char *t = x->fact ? x->fact : x->q ? x->q : x->label;
                json_object_set_new(fj, "todo", json_string(t));
                add_todo(todos, t);
            }
            json_array_append_new(fields, fj);
        }
        json_array_append_new(sections,
                              json_pack("{s:s, s:o}", "heading", s->heading, "fields", fields));
    }
    json_array_foreach(json_object_get(in->obligations, "obligations"), i, e)
    {
        if (strcmp(sget(e, "id"), f->obligation) == 0)
            obl = e;
    }
    if (!obl) {
        json_array_foreach(json_object_get(in->decision, "obligations"), i, e)
        {
            if (strcmp(sget(e, "id"), f->obligation) == 0)
                obl = e;
        }
    }
    doc = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:s, s:b, s:o, s:o}", "form", f->id, "title",
                    f->title, "cite", f->cite, "model", in->model, "version",
                    json_object_get(in->version, "version"), "commit", sget(in->version, "commit"),
                    "applies", obl != NULL, "sections", sections, "todos", todos);
    json_object_set_new(doc, "decision",
                        json_pack("{s:s, s:s, s:O?, s:O?, s:s, s:s, s:s}", "as_of",
                                  sget(in->decision, "as_of"), "min_tier",
                                  sget(in->decision, "min_tier"), "packs",
                                  json_object_get(in->decision, "packs"), "pack_versions",
                                  json_object_get(in->decision, "pack_versions"), "obligation",
                                  f->obligation, "obligation_status",
                                  obl ? (sget(obl, "status")[0] ? sget(obl, "status") : "open")
                                      : "not required by the decision",
                                  "obligation_cite", obl ? sget(obl, "cite") : ""));
    json_object_set_new(doc, "log",
                        json_pack("{s:O, s:O, s:s}", "index",
                                  json_object_get(in->decision, "log_index"), "proof",
                                  json_object_get(in->decision, "log_proof"), "check",
                                  in->log_check ? in->log_check : "not checked"));
    sl_buf_release(&b);
    *out = doc;
    return SL_OK;
}

char *sl_draft_markdown(json_t *d)
{
    struct sl_buf b = SL_BUF_INIT(1 << 22);
    json_t *s, *x, *dec = json_object_get(d, "decision");
    size_t i, k;

    sl_buf_addf(&b, "# %s\n\n", sget(d, "title"));
    sl_buf_addf(&b,
                "Draft pre-filled by sluice for %s version %lld (commit %s) from its facts, its "
                "decision of %s, its files, its attestations and the transparency log. It is a "
                "starting point, not legal advice: answer every TODO before filing it. Basis: "
                "%s.\n\n",
                sget(d, "model"), (long long)json_integer_value(json_object_get(d, "version")),
                sget(d, "commit"), sget(dec, "as_of"), sget(d, "cite"));
    if (!json_is_true(json_object_get(d, "applies")))
        sl_buf_addf(&b,
                    "> Note: the decision does not require this document (no obligation %s); it "
                    "is drafted on request.\n\n",
                    sget(dec, "obligation"));
    json_array_foreach(json_object_get(d, "sections"), i, s)
    {
        sl_buf_addf(&b, "## %s\n\n", sget(s, "heading"));
        json_array_foreach(json_object_get(s, "fields"), k, x)
        {
            if (json_is_string(json_object_get(x, "value")))
                sl_buf_addf(&b, "- **%s:** %s\n", sget(x, "label"), sget(x, "value"));
            else
                sl_buf_addf(&b, "- **%s:** TODO(%s)\n", sget(x, "label"), sget(x, "todo"));
        }
        sl_buf_adds(&b, "\n");
    }
    sl_buf_adds(&b, "## Basis of this draft\n\n");
    sl_buf_addf(&b, "- Decision of %s: minimum tier %s; packs:", sget(dec, "as_of"),
                sget(dec, "min_tier"));
    json_array_foreach(json_object_get(dec, "pack_versions"), i, x)
    {
        sl_buf_addf(&b, "%s %s@%s (sha256 %s)", i ? "," : "", sget(x, "pack"), sget(x, "version"),
                    sget(x, "sha256"));
    }
    sl_buf_adds(&b, "\n");
    sl_buf_addf(&b, "- Obligation %s: %s", sget(dec, "obligation"), sget(dec, "obligation_status"));
    if (sget(dec, "obligation_cite")[0])
        sl_buf_addf(&b, " (%s)", sget(dec, "obligation_cite"));
    sl_buf_adds(&b, "\n");
    sl_buf_addf(&b,
                "- Transparency log entry %lld, the publication of this version with its facts "
                "and decision (%s); its inclusion proof:\n\n",
                (long long)json_integer_value(path_get(d, "log.index")), sget(d, "log.check"));
    sl_buf_addf(&b, "```\n%s%s```\n\n", sget(d, "log.proof"),
                sget(d, "log.proof")[0] &&
                        sget(d, "log.proof")[strlen(sget(d, "log.proof")) - 1] == '\n'
                    ? ""
                    : "\n");
    sl_buf_addf(&b, "## Open items (%zu)\n\n", json_array_size(json_object_get(d, "todos")));
    json_array_foreach(json_object_get(d, "todos"), i, x)
        sl_buf_addf(&b, "- TODO(%s)\n", json_string_value(x));
    if (json_array_size(json_object_get(d, "todos")) == 0)
        sl_buf_adds(&b, "- none\n");
    return sl_buf_detach(&b, NULL);
}
