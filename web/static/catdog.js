/*
 * catdog.js - small progressive enhancements; every page works without it.
 *   - upload page: drag and drop a photo onto the drop zone, and a preview of
 *     the chosen photo (an object URL, allowed by the CSP as blob:).
 *   - Materialize's file field shows the chosen name.
 */
(function () {
  'use strict';
  var input = document.getElementById('inputfile');
  var zone = document.getElementById('dropzone');
  var preview = document.getElementById('preview');
  if (!input || !zone) return;
  var lastUrl = null;

  function show(file) {
    var path = zone.querySelector('.file-path');
    if (path) path.value = file ? file.name : '';
    if (!preview) return;
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = null;
    if (file && /^image\//.test(file.type)) {
      lastUrl = URL.createObjectURL(file);
      preview.src = lastUrl;
      preview.classList.remove('hidden');
    } else {
      preview.removeAttribute('src');
      preview.classList.add('hidden');
    }
  }

  input.addEventListener('change', function () {
    show(input.files && input.files[0]);
  });
  ['dragenter', 'dragover'].forEach(function (ev) {
    zone.addEventListener(ev, function (e) {
      e.preventDefault();
      zone.classList.add('dragover');
    });
  });
  ['dragleave', 'drop'].forEach(function (ev) {
    zone.addEventListener(ev, function (e) {
      e.preventDefault();
      zone.classList.remove('dragover');
    });
  });
  zone.addEventListener('drop', function (e) {
    var files = e.dataTransfer && e.dataTransfer.files;
    if (!files || !files.length) return;
    try {
      input.files = files; /* the form then posts the dropped file as inputfile */
    } catch (err) {
      var dt = new DataTransfer();
      dt.items.add(files[0]);
      input.files = dt.files;
    }
    show(input.files[0]);
  });
})();
