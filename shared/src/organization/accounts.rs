//! The targets of an organisation: its listed accounts, or every active account (under the
//! named organisational units, at any depth), each in every declared region.

use crate::aws::sdk_error;
use domain::stack::{Accounts, Organization, Target};
use domain::Error;
use std::collections::BTreeSet;

/// Every account × region the stack file's `[organization]` names, sorted.
pub async fn targets(
    organization: &Organization,
    organizations: &aws_sdk_organizations::Client,
) -> Result<Vec<Target>, Error> {
    if let Some(targets) = organization.listed_targets() {
        return Ok(targets);
    }
    let Accounts::Every { ous } = &organization.accounts else {
        return Ok(Vec::new());
    };
    let accounts = match ous.is_empty() {
        true => every_active_account(organizations).await?,
        false => {
            let mut accounts = BTreeSet::new();
            for ou in ous {
                accounts.extend(active_accounts_under(organizations, ou).await?);
            }
            accounts
        }
    };
    Ok(organization.targets_of(&accounts.into_iter().collect::<Vec<_>>()))
}

/// `ListAccounts`, every page: the organisation's active accounts.
async fn every_active_account(
    organizations: &aws_sdk_organizations::Client,
) -> Result<BTreeSet<String>, Error> {
    let mut accounts = BTreeSet::new();
    let mut pages = organizations.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("ListAccounts", e))?;
        accounts.extend(page.accounts().iter().filter_map(active_id));
    }
    Ok(accounts)
}

/// The active accounts directly under `ou` and under each of its units, depth first.
async fn active_accounts_under(
    organizations: &aws_sdk_organizations::Client,
    ou: &str,
) -> Result<BTreeSet<String>, Error> {
    use aws_sdk_organizations::types::ChildType;
    let mut accounts = BTreeSet::new();
    let mut units = vec![ou.to_string()];
    while let Some(unit) = units.pop() {
        let mut pages = organizations
            .list_accounts_for_parent()
            .parent_id(&unit)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ListAccountsForParent", e))?;
            accounts.extend(page.accounts().iter().filter_map(active_id));
        }
        let mut pages = organizations
            .list_children()
            .parent_id(&unit)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ListChildren", e))?;
            units.extend(
                page.children()
                    .iter()
                    .filter_map(|child| child.id().map(String::from)),
            );
        }
    }
    Ok(accounts)
}

/// An account's ID if it is active: a suspended or closing account has nothing to guard, and
/// its role cannot be assumed.
fn active_id(account: &aws_sdk_organizations::types::Account) -> Option<String> {
    use aws_sdk_organizations::types::AccountStatus;
    (account.status() == Some(&AccountStatus::Active))
        .then(|| account.id().map(String::from))
        .flatten()
}
