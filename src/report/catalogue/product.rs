//! The product section: unique users, conversations, satisfaction, intents and funnels.

use super::*;

pub(super) fn product() -> SectionDef {
    SectionDef {
        id: "product",
        title: "Product",
        figures: product_figures(),
        tables: product_tables(),
    }
}

fn product_figures() -> Vec<FigureDef> {
    let users = |w: &str| {
        format!(r#"sum(window_segment:chat_users:estimate{{segment="all",window="{w}"}})"#)
    };
    let conv = |outcome: &str| {
        format!(r#"sum(increase(chat_conversations_total{{outcome="{outcome}"}}[$R]))"#)
    };
    vec![
        figure(
            "product.dau",
            "Daily active users",
            unit::USERS,
            DAU,
            "Unique users of the last 24 hours at the end of the period, fleet-wide (HyperLogLog).",
        ),
        figure(
            "product.wau",
            "Weekly active users",
            unit::USERS,
            &users("7d"),
            "Unique users of the last 7 days at the end of the period.",
        ),
        figure(
            "product.mau",
            "Monthly active users",
            unit::USERS,
            &users("30d"),
            "Unique users of the last 30 days at the end of the period.",
        ),
        figure(
            "product.conversations",
            "Conversations",
            unit::COUNT,
            "sum(increase(chat_conversations_total[$R]))",
            "Conversations that ended in the period.",
        ),
        figure(
            "product.messages_per_conversation",
            "Messages per conversation",
            unit::MESSAGES,
            "sum(increase(chat_conversation_messages_sum[$R])) / sum(increase(chat_conversation_messages_count[$R]))",
            "Mean messages of the conversations that ended in the period.",
        ),
        figure(
            "product.abandonment",
            "Abandonment",
            unit::RATIO,
            &format!(
                "{} / sum(increase(chat_conversations_total[$R]))",
                conv("abandoned")
            ),
            "Abandoned conversations divided by all ended ones.",
        ),
        figure(
            "product.satisfaction",
            "Satisfaction",
            unit::RATIO,
            r#"sum(increase(chat_feedback_total{rating="positive"}[$R])) / sum(increase(chat_feedback_total{rating=~"positive|negative"}[$R]))"#,
            "Positive ratings divided by positive and negative ones.",
        ),
    ]
}

fn product_tables() -> Vec<TableDef> {
    let steps = "sum by (funnel, step) (increase(chat_funnel_step_total[$R]))";
    vec![
        table(
            "product.top_intents",
            "Top intents",
            unit::COUNT,
            "sum by (intent) (increase(chat_intents_total[$R])) > 0",
            &["intent"],
            "Messages by intent.",
        ),
        table(
            "product.misunderstood_intents",
            "Misunderstood intents",
            unit::COUNT,
            r#"sum by (intent) (increase(chat_intents_total{outcome="misunderstood"}[$R])) > 0"#,
            &["intent"],
            "Messages whose intent the assistant misunderstood.",
        ),
        table(
            "product.funnel_conversion",
            "Funnel conversion",
            unit::RATIO,
            &format!("min by (funnel) ({steps}) / max by (funnel) ({steps})"),
            &["funnel"],
            "Users who reached a funnel's last step divided by those who reached its first.",
        ),
        table(
            "product.funnel_steps",
            "Funnel steps",
            unit::COUNT,
            &format!("{steps} > 0"),
            &["funnel", "step"],
            "Users reaching each funnel step.",
        ),
    ]
}
