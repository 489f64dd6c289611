// A <select data-autosubmit> sends its form when changed (no inline handlers: the CSP forbids them).
document.addEventListener("change", (e) => {
  if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
});
// A <form data-submit-on-load> goes on by itself (an LTI deep-linking answer to the LMS); its
// button is there for a browser without scripts.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-submit-on-load]");
  if (form) form.submit();
});
