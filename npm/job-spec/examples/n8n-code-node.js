const { validate } = require('@api-gpu/job-spec');
const answer = validate('/video/img2vid', $json);
return { json: { ...$json, valid: answer === null, problems: answer ? answer.details : [] } };
