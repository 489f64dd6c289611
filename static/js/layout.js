// On every page: the demo banner can be hidden (for the session), the menu folds behind a
// button on small screens, and list tables carry their column names into each cell, so that
// on a phone each row reads as a card (label: value) with no sideways scrolling.
const banner = document.getElementById("demo-banner");
if (banner) {
  if (sessionStorage.getItem("abvlmq.banner") === "hidden") banner.classList.add("dismissed");
  const hide = document.getElementById("banner-hide");
  if (hide) hide.addEventListener("click", () => {
    banner.classList.add("dismissed");
    sessionStorage.setItem("abvlmq.banner", "hidden");
  });
}

const toggle = document.getElementById("menu-toggle");
const nav = document.getElementById("nav");
if (toggle && nav) {
  toggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
}

document.querySelectorAll("table.list").forEach((table) => {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  if (!names.length) return;
  table.querySelectorAll("tbody tr").forEach((tr) => {
    let col = 0;
    [...tr.children].forEach((cell) => {
      if (names[col] && !cell.dataset.label) cell.dataset.label = names[col];
      col += Number(cell.getAttribute("colspan") || 1);
    });
  });
  table.classList.add("labelled");
});
