-- Argo CD health check for ModelRollout (modelrollout.dev/ModelRollout). Put it in argocd-cm:
--   resource.customizations.health.modelrollout.dev_ModelRollout: |
--     <this file>
hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end
if obj.metadata ~= nil and obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local ready = nil
local blocked = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then ready = c end
    if c.type == "ReconcileError" and c.status == "True" then blocked = c end
  end
end
local phase = obj.status.phase
local message = obj.status.message or ""
if phase == "Healthy" and ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
elseif phase == "RolledBack" or phase == "Aborted" or phase == "Invalid" then
  hs.status = "Degraded"
  if obj.status.failure ~= nil and obj.status.failure.message ~= nil then
    message = obj.status.failure.reason .. ": " .. obj.status.failure.message
  end
elseif phase == "Paused" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
  -- A refused write or someone else's object holds the rollout: say which, not just "progressing".
  if blocked ~= nil then message = blocked.reason .. ": " .. blocked.message end
end
hs.message = message
return hs
