//! `GET /whoami`: who the caller is (its token's name and role, never the
//! token) and what it may do: every row of [`ROUTES`] with its role and
//! whether the caller's role reaches it, and forgetting for real
//! ([`FORGET_FOR_REAL`]). The dashboard hides or disables what is not
//! allowed from this answer, so it cannot drift from what the server
//! enforces.

use crate::auth::{Principal, Role};
use crate::http::api::route::{Op, FORGET_FOR_REAL, PREFIX};
use crate::http::api::table::ROUTES;
use crate::model::api::{OperationAccess, WhoAmI};

/// The `operation` of [`OperationAccess`] for a forget with `dry_run: false`.
pub const FORGET_FOR_REAL_ID: &str = "forgetForReal";

fn access(operation: &str, method: &str, path: &str, need: Role, have: Role) -> OperationAccess {
    OperationAccess {
        operation: operation.to_string(),
        method: method.to_string(),
        path: format!("{PREFIX}{path}"),
        role: need,
        allowed: have >= need,
    }
}

/// The answer for `principal`.
pub(super) fn whoami(principal: &Principal) -> WhoAmI {
    let have = principal.role;
    let mut operations: Vec<OperationAccess> = ROUTES
        .iter()
        .map(|r| access(r.op.id(), r.method, r.path, r.role, have))
        .collect();
    if let Some(r) = ROUTES.iter().find(|r| r.op == Op::Forget) {
        operations.push(access(
            FORGET_FOR_REAL_ID,
            r.method,
            r.path,
            FORGET_FOR_REAL.max(r.role),
            have,
        ));
    }
    WhoAmI {
        name: principal.name.clone(),
        role: have,
        operations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each role: its name and role, every route once with the role
    /// the table gives it and `allowed` exactly when the role reaches it,
    /// and forgetting for real for admins only.
    #[test]
    fn whoami_per_role() {
        for role in Role::ALL {
            let me = whoami(&Principal {
                name: format!("t-{role}"),
                role,
            });
            assert_eq!(me.name, format!("t-{role}"));
            assert_eq!(me.role, role);
            assert_eq!(me.operations.len(), ROUTES.len() + 1);
            for r in ROUTES {
                let a = me
                    .operations
                    .iter()
                    .find(|a| a.operation == r.op.id())
                    .unwrap_or_else(|| panic!("{} is missing", r.op.id()));
                assert_eq!(a.method, r.method);
                assert_eq!(a.path, format!("{PREFIX}{}", r.path));
                assert_eq!(a.role, r.role);
                assert_eq!(a.allowed, role >= r.role, "{role}: {}", r.op.id());
            }
            let real = me
                .operations
                .iter()
                .find(|a| a.operation == FORGET_FOR_REAL_ID)
                .unwrap();
            assert_eq!(real.allowed, role == Role::Admin, "{role}: forget for real");
            let allowed = |id: &str| me.operations.iter().any(|a| a.operation == id && a.allowed);
            assert!(allowed("whoami") && allowed("snapshots"), "{role}");
            assert_eq!(allowed("ruleRun"), role >= Role::Operator, "{role}");
            assert_eq!(allowed("restore"), role >= Role::Operator, "{role}");
            assert_eq!(allowed("hold"), role == Role::Admin, "{role}");
        }
        // The JSON names the role in lower case, as `coffer token` does.
        let me = whoami(&Principal {
            name: "web".into(),
            role: Role::Viewer,
        });
        let j = serde_json::to_value(&me).unwrap();
        assert_eq!(j["role"], "viewer");
        assert_eq!(j["operations"][0]["role"], "viewer");
    }
}
