//! The demo data a fresh sandbox starts with: an `acme` Workable account
//! (jobs, the standard pipeline, 3 members, 120 candidates) and an `acme`
//! Workday tenant (candidates with job applications in the assessment step).

use serde_json::{Value, json};

use crate::state::Data;
use crate::workable::WorkableData;

const FIRST: [&str; 12] =
    ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus", "Frances", "John"];
const LAST: [&str; 10] =
    ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman", "Torvalds"];

fn job(id: &str, shortcode: &str, title: &str, code: &str, state: &str, dept: &str, city: &str) -> Value {
    json!({
        "id": id, "title": title, "full_title": format!("{title} - {code}"), "shortcode": shortcode, "code": code,
        "state": state, "sample": false, "confidential": false, "department": dept, "department_hierarchy": [],
        "url": format!("https://acme.workable.com/jobs/{id}"),
        "application_url": format!("https://acme.workable.com/jobs/{id}/candidates/new"),
        "shortlink": format!("https://apply.workable.com/j/{shortcode}"), "workplace_type": "hybrid",
        "location": { "location_str": format!("{city}, United Kingdom"), "country": "United Kingdom", "country_code": "GB",
                      "region": null, "region_code": "England", "city": city, "zip_code": null, "telecommuting": false,
                      "workplace_type": "hybrid" },
        "locations": [],
        "created_at": "2026-03-25T00:00:00Z", "updated_at": "2026-07-01T09:00:00Z",
        "full_description": format!("<p>{title} at Acme.</p>"), "description": format!("<p>{title} at Acme.</p>"),
        "requirements": "<p>Curiosity.</p>", "benefits": "<p>Pension.</p>", "employment_type": "Full-time",
    })
}

fn stages() -> Vec<Value> {
    [("sourced", "Sourced"), ("applied", "Applied"), ("phone-screen", "Phone Screen"), ("assessment", "Assessment"), ("interview", "Interview"), ("offer", "Offer"), ("hired", "Hired")]
        .iter()
        .enumerate()
        .map(|(i, (slug, name))| {
            json!({"id": 5_272_269 + i, "identifier": format!("{:x}", 0x50779f + i), "slug": slug, "name": name, "kind": slug, "position": i + 1})
        })
        .collect()
}

fn workable() -> WorkableData {
    let jobs = vec![
        job("61884e0", "GROOV001", "Software Engineer", "UK/1/SE", "published", "Engineering", "London"),
        job("61884e1", "9CD658E13E", "Account Executive", "GB/09/AE", "published", "Sales", "London"),
        job("61884e2", "GROOV003", "Sales Intern", "US/3/SI", "draft", "Sales", "Manchester"),
        job("61884e3", "GROOV004", "Support Lead", "UK/4/SL", "closed", "Support", "Leeds"),
    ];
    let stages = stages();
    let mut w =
        WorkableData { subdomain: "acme".into(), jobs, stages, next_id: 0x2727_0000, ..WorkableData::default() };
    w.members = vec![
        json!({"id": "1f395d", "name": "Riley Recruiter", "headline": null, "email": "riley@acme.example", "role": "admin", "type": "Member", "active": true, "collaboration_rules": []}),
        json!({"id": "1f3960", "name": "Dorothy Beal", "headline": null, "email": "dorothy@acme.example", "role": "simple", "type": "Member", "active": true, "collaboration_rules": []}),
        json!({"id": "1f3961", "name": "Sam Reviewer", "headline": null, "email": "sam@acme.example", "role": "reviewer", "type": "Member", "active": true, "collaboration_rules": []}),
        json!({"id": "1f3962", "name": "Former Member", "headline": null, "email": "former@acme.example", "role": "simple", "type": "Member", "active": false, "collaboration_rules": []}),
    ];
    w.disqualification_reasons = vec![
        json!({"id": "b29c63", "description": "Does not meet qualifications", "candidate_withdrew": false, "position": 1}),
        json!({"id": "b29c64", "description": "Accepted another offer", "candidate_withdrew": true, "position": 2}),
    ];
    let published = ["GROOV001", "9CD658E13E"];
    for i in 0..120usize {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        let shortcode = published[i % 2];
        let title = if i % 2 == 0 { "Software Engineer" } else { "Account Executive" };
        let stage = w.stages[i % 5].clone();
        let id = w.new_id();
        let day = 1 + (i % 28);
        let created = format!("2026-04-{day:02}T{:02}:00:00Z", i % 24);
        let candidate = json!({
            "id": id, "name": format!("{first} {last}"), "firstname": first, "lastname": last,
            "headline": "Engineer", "image_url": null, "account": {"subdomain": "acme", "name": "Acme"},
            "job": {"shortcode": shortcode, "title": title}, "stage": stage["name"], "stage_kind": stage["kind"],
            "disqualified": false, "disqualified_at": null, "withdrew": false, "disqualification_reason": null,
            "hired_at": null, "sourced": i % 3 == 0,
            "profile_url": format!("https://acme.workable.com/backend/candidates/{id}"),
            "address": null, "phone": null, "email": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), i),
            "domain": null, "outlet": null, "created_at": created, "updated_at": created,
            "cover_letter": null, "summary": null, "education_entries": [], "experience_entries": [], "skills": [],
            "answers": [], "resume_url": null, "tags": [], "social_profiles": [],
        });
        w.candidates.push(candidate);
    }
    w
}

/// A fresh sandbox's data.
pub fn data() -> Data {
    Data { workable: workable(), workday: crate::workday::seed() }
}
