//! `with:` of the `workable.*` actions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Paging and time filters shared by the list actions.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    /// Page size.
    pub limit: Option<u32>,
    /// Only ids ≥ this.
    pub since_id: Option<String>,
    /// Only ids ≤ this.
    pub max_id: Option<String>,
    /// Created after.
    pub created_after: Option<String>,
    /// Updated after.
    pub updated_after: Option<String>,
    /// Follow `paging.next`.
    pub all_pages: bool,
    /// Page bound.
    pub max_pages: Option<u32>,
}

/// Defines a `with:` struct with the list fields (serde's `flatten` cannot be
/// combined with `deny_unknown_fields`, so the fields are spelled out).
macro_rules! list_params {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// Page size, 1–100 (Workable's default is 50).
            #[serde(default)]
            #[schemars(range(min = 1, max = 100))]
            pub limit: Option<u32>,
            /// Only items with an id ≥ this.
            #[serde(default)]
            pub since_id: Option<String>,
            /// Only items with an id ≤ this.
            #[serde(default)]
            pub max_id: Option<String>,
            /// Only items created after this (ISO 8601 or Unix seconds).
            #[serde(default)]
            pub created_after: Option<String>,
            /// Only items updated after this (ISO 8601 or Unix seconds), e.g. the schedule's `previous_success_at`.
            #[serde(default)]
            pub updated_after: Option<String>,
            /// Follow `paging.next` to the last page and return every item (default false: one page, plus `next`).
            #[serde(default)]
            pub all_pages: bool,
            /// With `all_pages`, stop after this many pages (default 100).
            #[serde(default)]
            pub max_pages: Option<u32>,
        }

        impl $name {
            /// The paging part.
            pub fn list(&self) -> ListParams {
                ListParams {
                    limit: self.limit,
                    since_id: self.since_id.clone(),
                    max_id: self.max_id.clone(),
                    created_after: self.created_after.clone(),
                    updated_after: self.updated_after.clone(),
                    all_pages: self.all_pages,
                    max_pages: self.max_pages,
                }
            }
        }
    };
}

/// Defines a `with:` struct with the candidate fields of create and update.
macro_rules! candidate_params {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            /// First name.
            #[serde(default)]
            pub firstname: Option<String>,
            /// Last name.
            #[serde(default)]
            pub lastname: Option<String>,
            /// Email.
            #[serde(default)]
            pub email: Option<String>,
            /// Headline.
            #[serde(default)]
            pub headline: Option<String>,
            /// Summary.
            #[serde(default)]
            pub summary: Option<String>,
            /// Address.
            #[serde(default)]
            pub address: Option<String>,
            /// Phone.
            #[serde(default)]
            pub phone: Option<String>,
            /// Cover letter.
            #[serde(default)]
            pub cover_letter: Option<String>,
            /// Education (an update replaces every entry).
            #[serde(default)]
            pub education_entries: Option<Vec<Education>>,
            /// Experience (an update replaces every entry).
            #[serde(default)]
            pub experience_entries: Option<Vec<Experience>>,
            /// Social profiles (an update replaces every entry).
            #[serde(default)]
            pub social_profiles: Option<Vec<SocialProfile>>,
            /// Skills.
            #[serde(default)]
            pub skills: Option<Vec<String>>,
            /// Tags (an update replaces every tag).
            #[serde(default)]
            pub tags: Option<Vec<String>>,
            /// A resume for Workable to fetch from this URL.
            #[serde(default)]
            pub resume_url: Option<String>,
        }

        impl $name {
            /// The candidate fields that were given, as Workable's JSON.
            pub fn fields(&self) -> serde_json::Map<String, Value> {
                let mut m = serde_json::Map::new();
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                };
                let s = |v: &Option<String>| v.clone().map(Value::String);
                let j = |v: Option<Value>| v;
                put("firstname", s(&self.firstname));
                put("lastname", s(&self.lastname));
                put("email", s(&self.email));
                put("headline", s(&self.headline));
                put("summary", s(&self.summary));
                put("address", s(&self.address));
                put("phone", s(&self.phone));
                put("cover_letter", s(&self.cover_letter));
                put("education_entries", j(self.education_entries.as_ref().and_then(|v| serde_json::to_value(v).ok())));
                put("experience_entries", j(self.experience_entries.as_ref().and_then(|v| serde_json::to_value(v).ok())));
                put("social_profiles", j(self.social_profiles.as_ref().and_then(|v| serde_json::to_value(v).ok())));
                put("skills", j(self.skills.as_ref().and_then(|v| serde_json::to_value(v).ok())));
                put("tags", j(self.tags.as_ref().and_then(|v| serde_json::to_value(v).ok())));
                put("resume_url", s(&self.resume_url));
                m
            }
        }
    };
}

/// A job state.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum JobState {
    Draft,
    Published,
    Archived,
    Closed,
}

list_params! {
    /// `with:` of `workable.jobs.list`.
    JobsListParams {
        /// Only jobs in this state.
        #[serde(default)]
        state: Option<JobState>,
    }
}

/// `with:` of `workable.jobs.get` and `workable.jobs.stages`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// The job's shortcode, e.g. `GROOV001`.
    pub shortcode: String,
}

list_params! {
    /// `with:` of `workable.candidates.list`.
    CandidatesListParams {
        /// Only this job's candidates (shortcode).
        #[serde(default)]
        shortcode: Option<String>,
        /// Only candidates in this stage (slug, e.g. `phone-screen`).
        #[serde(default)]
        stage: Option<String>,
        /// Only candidates with this email.
        #[serde(default)]
        email: Option<String>,
    }
}

/// `with:` of actions on one candidate (`get`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateParams {
    /// The candidate id.
    pub id: String,
}

/// An education entry.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Education {
    /// Keeps an existing entry (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// School (required).
    pub school: String,
    /// Degree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degree: Option<String>,
    /// Field of study.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_of_study: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

/// An experience entry.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experience {
    /// Keeps an existing entry (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Job title (required).
    pub title: String,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Industry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Whether this is the current position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

/// A social profile.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialProfile {
    /// `linkedin`, `github`, `twitter`, `xing`, … (required).
    #[serde(rename = "type")]
    pub kind: String,
    /// Profile URL (required).
    pub url: String,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

candidate_params! {
    /// `with:` of `workable.candidates.create`.
    CandidatesCreateParams {
        /// The job's shortcode.
        shortcode: String,
        /// Full name; or give `firstname` and `lastname`.
        #[serde(default)]
        name: Option<String>,
        /// Application answers: `{question_key, body | checked | choices | date | value | file_url}`.
        #[serde(default)]
        answers: Option<Vec<Value>>,
        /// Where the candidate came from (`domain`).
        #[serde(default)]
        domain: Option<String>,
        /// `true` (Workable's default): sourced; `false`: applied (Workable e-mails the candidate).
        #[serde(default)]
        sourced: Option<bool>,
        /// Put the candidate straight into this stage (slug).
        #[serde(default)]
        stage: Option<String>,
    }
}

candidate_params! {
    /// `with:` of `workable.candidates.update`: only the fields given change; arrays
    /// replace the existing entries, as Workable documents.
    CandidatesUpdateParams {
        /// The candidate id.
        id: String,
    }
}

list_params! {
    /// `with:` of `workable.candidates.activities`.
    ActivitiesParams {
        /// The candidate id.
        id: String,
    }
}

/// A comment attachment.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// File name. Default: a binary `data`'s name.
    #[serde(default)]
    pub name: Option<String>,
    /// Content: base64 text, or a binary value (e.g. the `body` of an `http.request` that
    /// fetched a report).
    pub data: crate::file_content::FileContent,
}

/// `with:` of `workable.candidates.comment`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentParams {
    /// The candidate id.
    pub id: String,
    /// The member who comments (see `workable.members.list`).
    pub member_id: String,
    /// The comment.
    pub body: String,
    /// Roles that may see it (e.g. `simple`, `reviewer`, `recruiter`); `[]` = admins only.
    #[serde(default)]
    pub policy: Option<Vec<String>>,
    /// One attachment.
    #[serde(default)]
    pub attachment: Option<Attachment>,
}

/// A rating scale.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Grades 0–2 (negative, positive, definite).
    Thumbs,
    /// Grades 0–4.
    Stars,
    /// Grades 0–9.
    Numbers,
}

/// `with:` of `workable.candidates.rate`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateParams {
    /// The candidate id.
    pub id: String,
    /// The member who rates.
    pub member_id: String,
    /// The rating's comment (required by Workable).
    pub comment: String,
    /// `thumbs` (default), `stars` or `numbers`.
    #[serde(default)]
    pub scale: Option<Scale>,
    /// The grade: 0–2 for thumbs, 0–4 for stars, 0–9 for numbers.
    pub grade: u8,
}

/// `with:` of `workable.candidates.move`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveParams {
    /// The candidate id.
    pub id: String,
    /// The member who moves the candidate.
    pub member_id: String,
    /// The target stage's slug (see `workable.jobs.stages`).
    pub target_stage: String,
}

/// `with:` of `workable.candidates.disqualify`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisqualifyParams {
    /// The candidate id.
    pub id: String,
    /// The member who disqualifies.
    pub member_id: String,
    /// A reason id from Workable's disqualification reasons.
    #[serde(default)]
    pub disqualify_reason_id: Option<String>,
    /// A note, at most 256 characters.
    #[serde(default)]
    pub disqualify_note: Option<String>,
    /// `true` if the candidate withdrew, `false` (default) if rejected.
    #[serde(default)]
    pub withdrew: Option<bool>,
}

list_params! {
    /// `with:` of `workable.members.list`.
    MembersListParams {
        /// `simple`, `admin` or `reviewer`.
        #[serde(default)]
        role: Option<String>,
        /// Exact email.
        #[serde(default)]
        email: Option<String>,
        /// Exact name.
        #[serde(default)]
        name: Option<String>,
        /// `active` (default), `inactive` or `all`.
        #[serde(default)]
        status: Option<String>,
        /// Only this job's collaborators.
        #[serde(default)]
        shortcode: Option<String>,
    }
}

/// `with:` of `workable.subscriptions.create`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCreateParams {
    /// Where Workable posts events (must be unique: a registered URL answers 409).
    pub target: String,
    /// `candidate_created`, `candidate_moved`, `candidate_deleted`, `employee_created`, …
    pub event: String,
    /// Only this job's events (candidate events; empty or absent = all jobs).
    #[serde(default)]
    pub job_shortcode: Option<String>,
    /// Only moves into this stage (candidate events; empty or absent = all stages).
    #[serde(default)]
    pub stage_slug: Option<String>,
}

/// `with:` of `workable.subscriptions.list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsListParams {}

/// `with:` of `workable.subscriptions.delete`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionDeleteParams {
    /// The subscription id.
    pub id: u64,
}
