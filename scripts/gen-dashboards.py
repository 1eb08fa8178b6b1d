#!/usr/bin/env python3
"""Writes the six Grafana dashboards under grafana/dashboards/ from the panel lists below.

One list per dashboard keeps every panel's query, unit, thresholds and description in one
place, and gives every dashboard the same variables, datasource and layout rules. Run it
after changing a panel; scripts/check fails when the committed JSON differs from what this
script writes (tests/it/dashboards.rs), validates the JSON against the schema generated
from @grafana/schema, parses every query with promtool, and runs every query against a
real Prometheus scraping llmwatch while `llmwatch demo` runs.

Usage: scripts/gen-dashboards.py [OUT_DIR]   (default grafana/dashboards)
       scripts/gen-dashboards.py --markdown  (the README tables)
"""

import json
import os
import sys

DS = {"type": "prometheus", "uid": "llmwatch-prometheus"}
# Every llm_* query filters on the three variables.
F = 'service=~"$service", provider=~"$provider", model=~"$model"'
# Tool and agent families have no provider or model.
FS = 'service=~"$service"'
RI = "$__rate_interval"
OUT_ERR = 'outcome="error"'
OUT_OK = 'outcome="success"'
T_CACHE = 'type="cache_read"'
T_INPUTS = 'type=~"input|cache_read|cache_write"'

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"


def steps(*pairs):
    """Threshold steps: a base colour, then (value, colour) pairs."""
    out = [{"color": pairs[0], "value": None}]
    out += [{"color": c, "value": v} for v, c in pairs[1:]]
    return {"mode": "absolute", "steps": out}


def panel(kind, title, description, targets, unit="short", thresholds=None, w=12, h=8,
          decimals=None, min_=None, max_=None, time_from=None, options=None, custom=None,
          overrides=None, mappings=None, color_mode=None):
    if isinstance(targets, str):
        targets = [(targets, "")]
    defaults = {"unit": unit, "thresholds": thresholds or steps(GREEN)}
    if decimals is not None:
        defaults["decimals"] = decimals
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if mappings:
        defaults["mappings"] = mappings
    if kind in ("timeseries",):
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                              "showPoints": "never", "spanNulls": False,
                              "thresholdsStyle": {"mode": "off"}}
        if custom:
            defaults["custom"].update(custom)
    elif kind in ("stat", "gauge", "bargauge"):
        defaults["color"] = {"mode": color_mode or "thresholds"}
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend or "__auto",
             **({"instant": True, "range": False, "format": "table"} if kind == "table" else {})}
            for i, (expr, legend) in enumerate(targets)
        ],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or default_options(kind),
    }
    if time_from:
        p["timeFrom"] = time_from
        p["hideTimeOverride"] = False
    return p


def default_options(kind):
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background", "graphMode": "area", "justifyMode": "auto",
                "orientation": "auto", "textMode": "auto"}
    if kind == "gauge":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "showThresholdLabels": False, "showThresholdMarkers": True}
    if kind == "bargauge":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True}
    if kind == "table":
        return {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    if kind == "piechart":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "pieType": "donut", "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                               "values": ["value", "percent"]},
                "tooltip": {"mode": "single", "sort": "none"}}
    return {}


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}}


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "refresh": 2, "includeAll": True, "multi": True,
        "allValue": ".*", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [], "sort": 1, "hide": 0,
    }


VARIABLES = [
    variable("service", "Service", "label_values(llm_requests_total, service)"),
    variable("provider", "Provider", 'label_values(llm_requests_total{service=~"$service"}, provider)'),
    variable("model", "Model", 'label_values(llm_requests_total{service=~"$service", provider=~"$provider"}, model)'),
]


def layout(items):
    """Places panels left to right in rows of 24 columns; a row panel starts a new line."""
    x = y = line_h = 0
    for i, p in enumerate(items, start=1):
        p["id"] = i
        g = p["gridPos"]
        if p["type"] == "row":
            y += line_h
            g.update(x=0, y=y)
            y += 1
            x = line_h = 0
            continue
        if x + g["w"] > 24:
            y += line_h
            x = line_h = 0
        g.update(x=x, y=y)
        x += g["w"]
        line_h = max(line_h, g["h"])
    return items


def dashboard(uid, title, description, tags, panels, refresh="30s", time_from="now-6h"):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["llmwatch"] + tags,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [{"title": "llmwatch dashboards", "type": "dashboards", "tags": ["llmwatch"],
                   "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
                   "tooltip": "", "url": "", "targetBlank": False}],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": VARIABLES},
        "panels": layout(panels),
    }


def q(metric, extra=""):
    sel = F + (", " + extra if extra else "")
    return f"{metric}{{{sel}}}"


def ratio(num, den):
    return f"({num}) / ({den})"


# 1. LLM operations, real time -------------------------------------------------------------
ERR_RATIO = ratio(f'sum(rate({q("llm_requests_total", OUT_ERR)}[{RI}]))',
                  f'sum(rate({q("llm_requests_total")}[{RI}]))')

operations = dashboard(
    "llmwatch-llm-operations", "LLM operations (real time)",
    "Live health of LLM calls: traffic, tokens, errors, latency, time to first token, spend today and per-provider status.",
    ["llm", "operations"],
    [
        panel("stat", "Requests per second", "LLM calls per second across the selected services, providers and models.",
              f'sum(rate({q("llm_requests_total")}[{RI}]))', unit="reqps", w=4, h=5, decimals=2,
              thresholds=steps(BLUE)),
        panel("stat", "Tokens per second", "Tokens per second, every type (input, cache reads and writes, output, reasoning) summed.",
              f'sum(rate({q("llm_tokens_total")}[{RI}]))', unit="short", w=4, h=5, thresholds=steps(BLUE)),
        panel("stat", "Error rate", "Share of LLM calls that failed. Amber from 5%, red from 10% (the LLMErrorRateHigh alert).",
              ERR_RATIO, unit="percentunit", w=4, h=5, decimals=1,
              thresholds=steps(GREEN, (0.05, YELLOW), (0.10, RED))),
        panel("stat", "p95 latency", "95th percentile duration of LLM calls. Amber above 5 s, red above 10 s.",
              f'histogram_quantile(0.95, sum by (le) (rate({q("llm_request_duration_seconds_bucket")}[{RI}])))',
              unit="s", w=4, h=5, decimals=2, thresholds=steps(GREEN, (5, YELLOW), (10, RED))),
        panel("stat", "p95 time to first token", "95th percentile wait until the first streamed chunk. Amber above 1 s, red above 3 s.",
              f'histogram_quantile(0.95, sum by (le) (rate({q("llm_time_to_first_token_seconds_bucket")}[{RI}])))',
              unit="s", w=4, h=5, decimals=2, thresholds=steps(GREEN, (1, YELLOW), (3, RED))),
        panel("stat", "Cost so far today", "USD spent on LLM calls since midnight (dashboard time zone), computed from the price table or reported by the app.",
              f'sum(increase({q("llm_cost_usd_total")}[$__range]))', unit="currencyUSD", w=4, h=5, decimals=2,
              time_from="now/d", thresholds=steps(BLUE)),
        panel("stat", "Provider status", "Share of successful calls per provider over the last 5 minutes: green above 95%, amber above 50%, red below (LLMProviderDown fires at 0).",
              f'sum by (provider) (rate({q("llm_requests_total", OUT_OK)}[5m])) / sum by (provider) (rate({q("llm_requests_total")}[5m]))',
              unit="percentunit", w=24, h=5, decimals=1,
              thresholds=steps(RED, (0.5, YELLOW), (0.95, GREEN))),
        panel("timeseries", "Requests by model", "LLM calls per second by provider and model.",
              [(f'sum by (provider, model) (rate({q("llm_requests_total")}[{RI}]))', "{{provider}} {{model}}")],
              unit="reqps"),
        panel("timeseries", "Tokens per second by type", "Tokens per second in disjoint types: input (uncached), cache_read, cache_write, output and reasoning.",
              [(f'sum by (type) (rate({q("llm_tokens_total")}[{RI}]))', "{{type}}")], unit="short",
              custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}),
        panel("timeseries", "Latency percentiles", "p50, p95 and p99 of LLM call duration.",
              [(f'histogram_quantile({p}, sum by (le) (rate({q("llm_request_duration_seconds_bucket")}[{RI}])))', f"p{int(p*100)}")
               for p in (0.5, 0.95, 0.99)], unit="s"),
        panel("timeseries", "Time to first token", "p50 and p95 of the time to the first streamed chunk, by model.",
              [(f'histogram_quantile({p}, sum by (le, model) (rate({q("llm_time_to_first_token_seconds_bucket")}[{RI}])))', f"p{int(p*100)} {{{{model}}}}")
               for p in (0.5, 0.95)], unit="s"),
        panel("timeseries", "Error rate by provider", "Share of failed calls per provider; the dashed line is the 10% alert threshold.",
              [(ratio(f'sum by (provider) (rate({q("llm_requests_total", OUT_ERR)}[{RI}]))',
                      f'sum by (provider) (rate({q("llm_requests_total")}[{RI}]))'), "{{provider}}")],
              unit="percentunit", min_=0, thresholds=steps(GREEN, (0.10, RED)),
              custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel("timeseries", "Errors by type", "Failed calls per second by provider and error class (RateLimitError, APITimeoutError, server_error, …).",
              [(f'sum by (provider, error_type) (rate({q("llm_errors_total")}[{RI}]))', "{{provider}} {{error_type}}")],
              unit="reqps"),
        panel("timeseries", "Finish reasons", "Why generation stopped, per second. A rise of length means truncated answers; content_filter means moderation.",
              [(f'sum by (reason) (rate({q("llm_finish_reasons_total")}[{RI}]))', "{{reason}}")], unit="reqps"),
        panel("timeseries", "Tool calls", "Tool calls per second by tool and outcome (execute_tool, MCP tools/call, the AI SDK's ai.toolCall), and the share that failed; LLMToolErrorRateHigh fires above 20%. Tool names past 100 are other.",
              [(f'sum by (tool, outcome) (rate(llm_tool_calls_total{{{FS}}}[{RI}])) or on() vector(0)', "{{tool}} {{outcome}}"),
               (ratio(f'sum by (tool) (rate(llm_tool_calls_total{{{FS}, {OUT_ERR}}}[{RI}]))',
                      f'sum by (tool) (rate(llm_tool_calls_total{{{FS}}}[{RI}]))') + " or on() vector(0)", "{{tool}} error share")],
              unit="reqps", w=12),
        panel("timeseries", "Agent invocations", "Agent and workflow invocations per second by name and outcome, and their p95 duration (invoke_agent, invoke_workflow).",
              [(f'sum by (kind, agent, outcome) (rate(llm_agent_invocations_total{{{FS}}}[{RI}])) or on() vector(0)', "{{kind}} {{agent}} {{outcome}}"),
               (f'histogram_quantile(0.95, sum by (le, agent) (rate(llm_agent_duration_seconds_bucket{{{FS}}}[{RI}]))) or on() vector(0)', "p95 {{agent}}")],
              unit="reqps", w=12),
    ],
    refresh="10s", time_from="now-1h",
)

# 2. AI cost ----------------------------------------------------------------------------------
COST = q("llm_cost_usd_total")
cost = dashboard(
    "llmwatch-ai-cost", "AI cost",
    "Where LLM money goes: by model, provider, service, user and conversation; budgets; cache savings; unpriced models; the month-end projection.",
    ["llm", "cost"],
    [
        panel("stat", "Cost today", "USD spent since midnight.", f"sum(increase({COST}[$__range]))",
              unit="currencyUSD", decimals=2, w=4, h=5, time_from="now/d", thresholds=steps(BLUE)),
        panel("bargauge", "Daily budget used", "Today's spend against llm_budget_usd{period=\"daily\"}: amber from 80%, red at 100% (the budget alerts).",
              f'sum(increase({COST}[$__range])) / scalar(max(llm_budget_usd{{period="daily"}}))',
              unit="percentunit", min_=0, max_=1.2, w=5, h=5, time_from="now/d",
              thresholds=steps(GREEN, (0.8, YELLOW), (1.0, RED))),
        panel("stat", "Cost this month", "USD spent since the first of the month.", f"sum(increase({COST}[$__range]))",
              unit="currencyUSD", decimals=2, w=4, h=5, time_from="now/M", thresholds=steps(BLUE)),
        panel("bargauge", "Monthly budget used", "This month's spend against llm_budget_usd{period=\"monthly\"}: amber from 80%, red at 100%.",
              f'sum(increase({COST}[$__range])) / scalar(max(llm_budget_usd{{period="monthly"}}))',
              unit="percentunit", min_=0, max_=1.2, w=5, h=5, time_from="now/M",
              thresholds=steps(GREEN, (0.8, YELLOW), (1.0, RED))),
        panel("stat", "Projected month-end cost", "Spend so far this month plus the last 6 hours' rate for the rest of the month. Red when it passes the monthly budget.",
              f'sum(increase({COST}[$__range])) + sum(rate({COST}[6h])) * scalar((days_in_month() - day_of_month() + 1) * 86400 - time() % 86400)',
              unit="currencyUSD", decimals=0, w=6, h=5, time_from="now/M", thresholds=steps(GREEN),
              overrides=[]),
        panel("timeseries", "Cost per hour by model", "USD per hour at the current rate, by model.",
              [(f"sum by (model) (rate({COST}[{RI}])) * 3600", "{{model}}")], unit="currencyUSD",
              custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}),
        panel("timeseries", "Budget against actual, today", "Cumulative spend over the last 24 hours against the daily budget line.",
              [(f"sum(increase({COST}[1d]))", "spent, last 24 h"),
               ('max(llm_budget_usd{period="daily"})', "daily budget")], unit="currencyUSD"),
        panel("piechart", "Cost by provider", "Share of the spend in the selected time range by provider.",
              [(f"sum by (provider) (increase({COST}[$__range]))", "{{provider}}")], unit="currencyUSD", w=8),
        panel("piechart", "Cost by service", "Share of the spend in the selected time range by service.",
              [(f"sum by (service) (increase({COST}[$__range]))", "{{service}}")], unit="currencyUSD", w=8),
        panel("bargauge", "Cost by model", "Spend in the selected time range by model, largest first.",
              [(f"sort_desc(sum by (model) (increase({COST}[$__range])))", "{{model}}")], unit="currencyUSD", w=8,
              thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("table", "Top users by cost", "The 10 users with the highest LLM cost today (pseudonymous ids, as redaction left them).",
              [('topk(10, max by (user) (chat_top_user_cost_usd{window="1d"}))', "")], unit="currencyUSD", w=8),
        panel("timeseries", "Cost per conversation", "Median and p95 cost of a conversation, at its end; the mean from the histogram's sum and count.",
              [('histogram_quantile(0.5, sum by (le) (rate(chat_conversation_cost_usd_bucket[1h])))', "median"),
               ('histogram_quantile(0.95, sum by (le) (rate(chat_conversation_cost_usd_bucket[1h])))', "p95"),
               ('sum(rate(chat_conversation_cost_usd_sum[1h])) / sum(rate(chat_conversation_cost_usd_count[1h]))', "mean")],
              unit="currencyUSD", w=8),
        panel("stat", "Saved by cached tokens", "What cache reads saved in the selected range: cached tokens at the uncached input price, less what they cost.",
              f'sum(increase({q("llm_cache_savings_usd_total")}[$__range]))', unit="currencyUSD", decimals=2, w=4,
              thresholds=steps(GREEN)),
        panel("stat", "Cache hit ratio", "Share of input tokens read from a cache.",
              ratio(f'sum(rate({q("llm_tokens_total", T_CACHE)}[$__range]))',
                    f'sum(rate({q("llm_tokens_total", T_INPUTS)}[$__range]))'),
              unit="percentunit", decimals=1, w=4, thresholds=steps(YELLOW, (0.2, GREEN))),
        panel("table", "Models with no price", "Models whose tokens the price table cannot price, with the tokens used in the range: their cost is missing, never counted as $0. Run `llmwatch price MODEL`.",
              [(f'sum by (provider, model) (increase({q("llm_unpriced_tokens_total")}[$__range])) > 0 or on() vector(0)', "")],
              unit="short", w=8, thresholds=steps(GREEN, (1, RED))),
        panel("table", "Calls without usage", "Successful calls that reported no token count, by service and model: each is counted at $0, so the cost above is short by what they used. A streamed chat without stream_options.include_usage is the usual cause.",
              [(f'sum by (service, model) (increase({q("llm_calls_without_usage_total")}[$__range])) > 0 or on() vector(0)', "")],
              unit="short", w=8, thresholds=steps(GREEN, (1, YELLOW))),
    ],
    time_from="now-24h",
)

# 3. Product analytics ------------------------------------------------------------------------
USERS = 'window_segment:chat_users:estimate{{segment="all", window="{w}"}}'
product = dashboard(
    "llmwatch-product-analytics", "Product analytics",
    "What users do with the assistant: active users, conversations, messages, satisfaction, intents, funnels and where people give up.",
    ["product"],
    [
        panel("stat", "DAU", "Unique users of the last 24 hours across every llmwatch instance (HyperLogLog over the merged registers, about 3% error).",
              USERS.format(w="1d"), unit="short", decimals=0, w=4, h=5, thresholds=steps(BLUE)),
        panel("stat", "WAU", "Unique users of the last 7 days across the fleet.", USERS.format(w="7d"),
              unit="short", decimals=0, w=4, h=5, thresholds=steps(BLUE)),
        panel("stat", "MAU", "Unique users of the last 30 days across the fleet.", USERS.format(w="30d"),
              unit="short", decimals=0, w=4, h=5, thresholds=steps(BLUE)),
        panel("stat", "Stickiness (DAU/MAU)", "Daily over monthly users: how many of the month's users come back each day.",
              f'{USERS.format(w="1d")} / ignoring(window) {USERS.format(w="30d")}', unit="percentunit", decimals=1,
              w=4, h=5, thresholds=steps(RED, (0.1, YELLOW), (0.2, GREEN))),
        panel("stat", "Satisfaction", "Positive share of thumbs-up and thumbs-down ratings in the range. Red below 50% (the SatisfactionLow alert).",
              'sum(increase(chat_feedback_total{rating="positive"}[$__range])) / sum(increase(chat_feedback_total{rating=~"positive|negative"}[$__range]))',
              unit="percentunit", decimals=1, w=4, h=5, thresholds=steps(RED, (0.5, YELLOW), (0.7, GREEN))),
        panel("stat", "Open conversations", "Conversations in progress now.", "sum(chat_conversations_open)",
              unit="short", w=4, h=5, thresholds=steps(BLUE)),
        panel("timeseries", "Active users by segment", "Unique users of the last 24 hours by segment (guest, new, tier).",
              [('window_segment:chat_users:estimate{window="1d"}', "{{segment}}")], unit="short"),
        panel("timeseries", "Messages", "Messages sent by users and received from the assistant, per minute.",
              [('sum by (event) (rate(chat_events_total{event=~"message_sent|message_received"}[$__rate_interval])) * 60', "{{event}}")],
              unit="short"),
        panel("timeseries", "Conversations by outcome", "Conversations ended per minute: completed (answered), abandoned (left unanswered), errored (the last call failed).",
              [('sum by (outcome) (rate(chat_conversations_total[$__rate_interval])) * 60', "{{outcome}}")], unit="short",
              custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}),
        panel("timeseries", "Conversation length", "Median and p95 messages per conversation, at its end.",
              [(f'histogram_quantile({p}, sum by (le) (rate(chat_conversation_messages_bucket[1h])))', f"p{int(p*100)}")
               for p in (0.5, 0.95)], unit="short"),
        panel("bargauge", "Chats opened by entry point", "Where users open the chat, in the selected range.",
              [('sort_desc(sum by (entry_point) (increase(chat_events_total{event="chat_opened"}[$__range])))', "{{entry_point}}")],
              unit="short", w=8, thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("timeseries", "Feedback ratio by model", "Positive share of ratings by model over the last hour; the dashed line is 50%.",
              [('sum by (model) (increase(chat_feedback_total{rating="positive"}[1h])) / sum by (model) (increase(chat_feedback_total{rating=~"positive|negative"}[1h]))', "{{model}}")],
              unit="percentunit", min_=0, max_=1, w=8, thresholds=steps(RED, (0.5, GREEN)),
              custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel("bargauge", "Intents", "Messages by intent in the selected range.",
              [('sort_desc(sum by (intent) (increase(chat_intents_total[$__range])))', "{{intent}}")],
              unit="short", w=8, thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("table", "Intents not understood", "Share of each intent's messages that were misunderstood (low confidence or a repeated question) or failed. Red above 20%.",
              [('sum by (intent) (increase(chat_intents_total{outcome=~"misunderstood|error"}[$__range])) / sum by (intent) (increase(chat_intents_total[$__range]))', "")],
              unit="percentunit", w=8, thresholds=steps(GREEN, (0.1, YELLOW), (0.2, RED)),
              overrides=[{"matcher": {"id": "byName", "options": "Value"},
                          "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}}]}]),
        panel("bargauge", "Platform connection funnel", "Users reaching each step of the platform_connection funnel for the first time in the range, in order.",
              [('sum by (step) (increase(chat_funnel_step_total{funnel="platform_connection"}[$__range]))', "{{step}}")],
              unit="short", w=8, thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("bargauge", "Where users abandon", "Abandoned conversations by the last product event before the user left.",
              [('sort_desc(sum by (event) (increase(chat_conversation_dropoff_total[$__range])))', "{{event}}")],
              unit="short", w=8, thresholds=steps(ORANGE), color_mode="continuous-YlRd"),
    ],
    time_from="now-24h",
)

# 4. Technical health -------------------------------------------------------------------------
health = dashboard(
    "llmwatch-technical-health", "Technical health",
    "Latency and errors by component (AI, database, platform APIs, frontend, server) against their thresholds, platform integrations, and the web vitals of the chat widget.",
    ["health"],
    [
        row("Components"),
        panel("bargauge", "p95 latency against the good threshold", "Each component's p95 latency over 10 minutes divided by its good threshold (llmwatch_latency_threshold_seconds{level=\"good\"}): above 1 is poor.",
              [('histogram_quantile(0.95, sum by (component, le) (rate(app_operation_duration_seconds_bucket{service=~"$service"}[10m]))) / on (component) max by (component) (llmwatch_latency_threshold_seconds{level="good"})', "{{component}}")],
              unit="percentunit", min_=0, max_=2, w=8, thresholds=steps(GREEN, (0.8, YELLOW), (1.0, RED))),
        panel("timeseries", "p95 latency by component", "95th percentile duration by component; compare with the thresholds in the bar gauge.",
              [('histogram_quantile(0.95, sum by (component, le) (rate(app_operation_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))', "{{component}}")],
              unit="s", w=16),
        panel("timeseries", "Errors by component and type", "Failed operations per second that no expected-outcome rule matched.",
              [('sum by (component, error_type) (rate(app_errors_total{service=~"$service"}[$__rate_interval]))', "{{component}} {{error_type}}")],
              unit="reqps"),
        panel("timeseries", "Error ratio by component", "Failed share of each component's operations. Red above 5%; the database alert fires above 90%.",
              [(ratio('sum by (component) (rate(app_errors_total{service=~"$service"}[$__rate_interval]))',
                      'sum by (component) (rate(app_operation_duration_seconds_count{service=~"$service"}[$__rate_interval]))'), "{{component}}")],
              unit="percentunit", min_=0, thresholds=steps(GREEN, (0.05, RED)),
              custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel("table", "Slowest operations", "The 10 operations with the highest p95 duration over the last hour.",
              [('topk(10, histogram_quantile(0.95, sum by (component, operation, le) (rate(app_operation_duration_seconds_bucket{service=~"$service"}[1h]))))', "")],
              unit="s", w=12, thresholds=steps(GREEN, (1, YELLOW), (5, RED)),
              overrides=[{"matcher": {"id": "byName", "options": "Value"},
                          "properties": [{"id": "custom.cellOptions", "value": {"type": "color-text"}}]}]),
        panel("timeseries", "Log records by severity", "Log records per second by severity; errors and fatals in red.",
              [('sum by (severity) (rate(app_log_records_total{service=~"$service"}[$__rate_interval]))', "{{severity}}")],
              unit="short", w=6,
              overrides=[{"matcher": {"id": "byRegexp", "options": "error|fatal"},
                          "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": RED}}]}]),
        panel("timeseries", "Exceptions by type", "Error log records per second by exception class.",
              [('sum by (exception_type) (rate(app_log_exceptions_total{service=~"$service"}[$__rate_interval]))', "{{exception_type}}")],
              unit="short", w=6),
        row("Platform integrations"),
        panel("stat", "Integration success", "Successful share of requests to each platform over 5 minutes: red below 90% (PlatformAPIDown fires at 0).",
              [("platform:integration_success_ratio:rate5m", "{{platform}}")], unit="percentunit", decimals=1, w=8, h=6,
              thresholds=steps(RED, (0.9, YELLOW), (0.99, GREEN))),
        panel("timeseries", "Requests by platform and outcome", "Requests per second to each platform: success, error, rate_limited.",
              [('sum by (platform, outcome) (rate(integration_requests_total[$__rate_interval]))', "{{platform}} {{outcome}}")],
              unit="reqps", w=8, h=6),
        panel("timeseries", "Platform p95 latency", "95th percentile duration of requests per platform.",
              [('histogram_quantile(0.95, sum by (platform, le) (rate(integration_request_duration_seconds_bucket[$__rate_interval])))', "{{platform}}")],
              unit="s", w=8, h=6),
        panel("stat", "Data freshness", "Time since the last successful request to each platform. Amber after 1 hour, red after 6.",
              [("time() - max by (platform) (integration_last_sync_timestamp_seconds)", "{{platform}}")], unit="s", w=8, h=6,
              thresholds=steps(GREEN, (3600, YELLOW), (21600, RED))),
        panel("bargauge", "Connections", "Platform connections in the range: initiated, connected, failed.",
              [('sum by (platform, outcome) (increase(integration_connections_total[$__range]))', "{{platform}} {{outcome}}")],
              unit="short", w=8, h=6, thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("table", "Tokens expiring", "Connections whose OAuth token has expired or expires within 1 or 7 days. Anything within 7 days fires IntegrationTokensExpiring.",
              [('max by (platform, within) (integration_tokens_expiring)', "")], unit="short", w=8, h=6,
              thresholds=steps(GREEN, (1, ORANGE)),
              overrides=[{"matcher": {"id": "byName", "options": "Value"},
                          "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}}]}]),
        row("Web vitals"),
        *[panel("stat", f"{name} p75", f"75th percentile {name} of the chat widget's page views (Google's reporting percentile). Green up to {good}, red above {poor}.",
                f"histogram_quantile(0.75, sum by (le) (rate({metric}_bucket{{service=~\"$service\"}}[1h])))",
                unit=unit, decimals=2, w=4, h=5, thresholds=steps(GREEN, (good, YELLOW), (poor, RED)))
          for name, metric, unit, good, poor in [
              ("LCP", "web_vitals_lcp_seconds", "s", 2.5, 4.0),
              ("INP", "web_vitals_inp_seconds", "s", 0.2, 0.5),
              ("CLS", "web_vitals_cls", "short", 0.1, 0.25),
              ("FCP", "web_vitals_fcp_seconds", "s", 1.8, 3.0),
              ("TTFB", "web_vitals_ttfb_seconds", "s", 0.8, 1.8),
          ]],
        panel("piechart", "LCP ratings", "Page views by LCP rating in the range: good, needs-improvement, poor.",
              [('sum by (rating) (increase(web_vitals_lcp_seconds_count{service=~"$service"}[$__range]))', "{{rating}}")],
              unit="short", w=4, h=5,
              overrides=[{"matcher": {"id": "byName", "options": r}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]}
                         for r, c in (("good", GREEN), ("needs-improvement", YELLOW), ("poor", RED))]),
    ],
    time_from="now-6h",
)

# 5. Pipeline and privacy ---------------------------------------------------------------------
pipeline = dashboard(
    "llmwatch-pipeline", "llmwatch pipeline and privacy",
    "llmwatch itself: throughput, refusals, queues, redactions, exports and series limits.",
    ["llmwatch", "pipeline"],
    [
        panel("stat", "llmwatch up", "Whether Prometheus scrapes each llmwatch instance (LlmwatchDown fires after a minute at 0).",
              [('up{job="llmwatch"}', "{{instance}}")], unit="short", w=6, h=5,
              thresholds=steps(RED, (1, GREEN)),
              mappings=[{"type": "value", "options": {"0": {"text": "down", "index": 0}, "1": {"text": "up", "index": 1}}}]),
        panel("stat", "Accepted items per second", "Spans, log records and data points accepted per second.",
              "sum(rate(llmwatch_receiver_accepted_items_total[$__rate_interval]))", unit="short", w=6, h=5,
              thresholds=steps(BLUE)),
        panel("stat", "Refused requests per second", "Requests refused for any reason. Zero is the goal; amber from 0.1/s, red from 1/s.",
              "sum(rate(llmwatch_receiver_refused_requests_total[$__rate_interval])) or on() vector(0)", unit="reqps", w=6, h=5,
              decimals=2, thresholds=steps(GREEN, (0.1, YELLOW), (1, RED))),
        panel("gauge", "Pipeline queue", "Bytes waiting for the pipeline workers, against the queue's bound. At 100% receivers refuse with the retryable status.",
              "sum(llmwatch_queue_bytes) / sum(llmwatch_queue_capacity_bytes)", unit="percentunit", min_=0, max_=1, w=6, h=5,
              thresholds=steps(GREEN, (0.5, YELLOW), (0.8, RED))),
        panel("timeseries", "Accepted items by signal and transport", "Items accepted per second.",
              [("sum by (signal, transport) (rate(llmwatch_receiver_accepted_items_total[$__rate_interval]))", "{{signal}} {{transport}}")],
              unit="short"),
        panel("timeseries", "Refused requests by reason", "Refusals per second by reason: queue_full and exporter_queue_full are back-pressure; malformed and invalid_token point at a client.",
              [("sum by (reason) (rate(llmwatch_receiver_refused_requests_total[$__rate_interval]))", "{{reason}}")],
              unit="reqps"),
        panel("timeseries", "Batch processing time", "p50 and p99 time to run one batch through its processors and exporters.",
              [(f"histogram_quantile({p}, sum by (le) (rate(llmwatch_pipeline_batch_duration_seconds_bucket[$__rate_interval])))", f"p{int(p*100)}")
               for p in (0.5, 0.99)], unit="s"),
        panel("timeseries", "Redactions by detector", "Values the redaction processor replaced per second, by detector (email, card, phone, secret, user_id, …).",
              [("sum by (detector) (rate(llmwatch_redactions_total[$__rate_interval]))", "{{detector}}")], unit="short",
              custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}),
        panel("bargauge", "Redactions by location", "Where redacted values were found in the range: span or log attributes, bodies, resources.",
              [("sort_desc(sum by (location) (increase(llmwatch_redactions_total[$__range])))", "{{location}}")],
              unit="short", w=8, thresholds=steps(BLUE), color_mode="continuous-BlPu"),
        panel("timeseries", "Exports by exporter", "Items delivered per second by each exporter, and failures.",
              [("sum by (exporter, signal) (rate(llmwatch_exporter_sent_items_total[$__rate_interval]))", "sent {{exporter}} {{signal}}"),
               ("sum by (exporter, signal) (rate(llmwatch_exporter_failed_items_total[$__rate_interval])) or on() vector(0)", "failed {{exporter}} {{signal}}")],
              unit="short", w=8,
              overrides=[{"matcher": {"id": "byRegexp", "options": "failed.*"},
                          "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": RED}}]}]),
        panel("timeseries", "Forwarding queue", "Bytes in each otlp exporter's send queue against its capacity; a rising line means the destination is slower than the traffic or down.",
              [("sum by (exporter) (llmwatch_exporter_queue_bytes) / sum by (exporter) (llmwatch_exporter_queue_capacity_bytes)", "{{exporter}}")],
              unit="percentunit", min_=0, max_=1, w=8, thresholds=steps(GREEN, (0.8, RED)),
              custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel("timeseries", "Forwarding retries and drops", "Items retried and dropped per second by otlp exporters; any drop is data lost, by reason.",
              [("sum by (exporter) (rate(llmwatch_exporter_retried_items_total[$__rate_interval])) or on() vector(0)", "retried {{exporter}}"),
               ("sum by (exporter, reason) (rate(llmwatch_exporter_dropped_items_total[$__rate_interval])) or on() vector(0)", "dropped {{exporter}} {{reason}}")],
              unit="short", w=8),
        panel("timeseries", "Export latency", "p99 duration of export requests to each otlp destination.",
              [("histogram_quantile(0.99, sum by (exporter, le) (rate(llmwatch_exporter_send_duration_seconds_bucket[$__rate_interval])))", "{{exporter}}")],
              unit="s", w=8),
        panel("stat", "Series folded into other", "Label values folded into `other` or series not kept because a family reached its series limit, in the range. Zero is the goal.",
              "sum(increase(llmwatch_metric_overflow_total[$__range])) or on() vector(0)", unit="short", w=8,
              thresholds=steps(GREEN, (1, YELLOW))),
        panel("stat", "Items dropped by processors", "Items a failing processor kept from every exporter (llmwatch fails closed), in the range.",
              "sum(increase(llmwatch_processor_dropped_items_total[$__range])) or on() vector(0)", unit="short", w=8,
              thresholds=steps(GREEN, (1, RED))),
    ],
    refresh="10s", time_from="now-1h",
)

# 6. SLOs and error budgets -------------------------------------------------------------------
# The series of prometheus/rules/slo.yaml (llmwatch slo-rules): every one has an `slo` label
# and the objective's slice labels (service, model or platform).
SLO_SEL = 'service=~"$service"'
SLO_LEGEND = "{{slo}} {{service}}{{platform}} {{model}}"
SLO_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
BUDGET = "on (slo) group_left () (1 - slo:objective:ratio)"
slos = dashboard(
    "llmwatch-slos", "SLOs and error budgets",
    "Service level objectives of the AI path: each indicator over its compliance window, the error budget left, how fast it burns over the workbook's windows, and the burn-rate alerts.",
    ["slo"],
    [
        panel("stat", "Burn-rate alerts", "Per objective: page (SLOFastBurn firing: 14.4x over 1h and 5m, or 6x over 6h and 30m), ticket (SLOSlowBurn: 3x over 1d and 2h, or 1x over 3d and 6h), or OK.",
              [('max by (slo) (ALERTS{alertname="SLOFastBurn", alertstate="firing"}) * 2'
                ' or max by (slo) (ALERTS{alertname="SLOSlowBurn", alertstate="firing"})'
                ' or max by (slo) (slo:objective:ratio) * 0', "{{slo}}")],
              unit="short", w=24, h=4, thresholds=steps(GREEN, (1, YELLOW), (2, RED)),
              mappings=[{"type": "value", "options": {
                  "0": {"text": "OK", "color": GREEN, "index": 0},
                  "1": {"text": "ticket", "color": YELLOW, "index": 1},
                  "2": {"text": "page", "color": RED, "index": 2}}}]),
        panel("stat", "SLI over the window", "Share of good events over each objective's compliance window (28 or 30 days; less while Prometheus holds less history), per slice.",
              [(f"1 - slo:error_ratio:window{{{SLO_SEL}}}", SLO_LEGEND)],
              unit="percentunit", decimals=2, w=12, thresholds=steps(BLUE)),
        panel("bargauge", "Error budget remaining", "Share of the window's error budget not yet spent: 1 - error ratio over the window / (1 - target). Amber below 50%, red below 25%; at 0 the objective is missed.",
              [(f"slo:error_budget_remaining:ratio{{{SLO_SEL}}}", SLO_LEGEND)],
              unit="percentunit", min_=0, max_=1, w=12, thresholds=steps(RED, (0.25, YELLOW), (0.5, GREEN))),
        panel("timeseries", "Burn rate by window", "Error ratio over each window divided by the error budget (1 - target): 1 spends the budget exactly over the window. Dashed: the alert burn rates 1, 3, 6 and 14.4.",
              [(f"slo:error_ratio:rate{w}{{{SLO_SEL}}} / {BUDGET}", f"{w} {SLO_LEGEND}") for w in SLO_WINDOWS],
              unit="short", w=24, h=10, min_=0,
              thresholds=steps(GREEN, (1, YELLOW), (3, ORANGE), (6, RED), (14.4, "dark-red")),
              custom={"thresholdsStyle": {"mode": "dashed"}}),
        panel("timeseries", "SLI over the last hour against the target", "Share of good events over the last hour, per slice, and each objective's target (dashed lines).",
              [(f"1 - slo:error_ratio:rate1h{{{SLO_SEL}}}", SLO_LEGEND),
               ("slo:objective:ratio", "target {{slo}}")],
              unit="percentunit", w=24, decimals=3,
              overrides=[{"matcher": {"id": "byRegexp", "options": "target.*"},
                          "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}]),
    ],
    time_from="now-24h",
)

DASHBOARDS = {
    "llm-operations.json": operations,
    "ai-cost.json": cost,
    "product-analytics.json": product,
    "technical-health.json": health,
    "pipeline.json": pipeline,
    "slos.json": slos,
}


def markdown():
    """The README's dashboard tables: each panel and the question it answers."""
    for name, d in DASHBOARDS.items():
        print(f"#### {d['title']} (`grafana/dashboards/{name}`)\n")
        print(d["description"] + "\n")
        print("| panel | type | what it answers |")
        print("|---|---|---|")
        for p in d["panels"]:
            if p["type"] == "row":
                continue
            desc = p["description"].replace("|", "\\|")
            print(f"| {p['title']} | {p['type']} | {desc} |")
        print()


def main():
    if sys.argv[1:] == ["--markdown"]:
        markdown()
        return
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "grafana", "dashboards")
    os.makedirs(out, exist_ok=True)
    for name, d in DASHBOARDS.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(d, f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
