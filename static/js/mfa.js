// Passkeys (WebAuthn) on the sign-in and second-factor pages, with no inline script: a button
// says what it does in data-webauthn ("create", "get" or "login"), where the server's options
// are (data-options: the id of a json_script element) and where to say what went wrong
// (data-error). The browser's credential goes back in the form's hidden "credential" field.
// webauthn-json (allauth's static file) turns the JSON options into the browser's and back.
(function () {
  'use strict'

  function serverOptions (button) {
    return JSON.parse(document.getElementById(button.dataset.options).textContent)
  }

  async function create (button) {
    const options = JSON.parse(JSON.stringify(serverOptions(button).creation_options))
    const passwordless = button.form.querySelector('input[name="passwordless"]')
    if (passwordless) {
      // A passkey that signs in alone is kept on the device and asks for a PIN or biometrics.
      const selection = options.publicKey.authenticatorSelection
      selection.residentKey = passwordless.checked ? 'required' : 'discouraged'
      selection.requireResidentKey = passwordless.checked
      if (passwordless.checked) selection.userVerification = 'required'
    }
    return window.webauthnJSON.create(options)
  }

  async function get (button) {
    return window.webauthnJSON.get(serverOptions(button).request_options)
  }

  async function login (button) {
    const response = await fetch(button.form.action, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin'
    })
    if (!response.ok) throw new Error(gettext('WeScan could not start a passkey sign-in; try again.'))
    return window.webauthnJSON.get((await response.json()).request_options)
  }

  const ceremonies = { create, get, login }

  document.addEventListener('click', async function (event) {
    const button = event.target.closest('button[data-webauthn]')
    if (!button || !ceremonies[button.dataset.webauthn]) return
    event.preventDefault()
    const error = document.getElementById(button.dataset.error)
    if (error) error.hidden = true
    button.disabled = true
    try {
      const credential = await ceremonies[button.dataset.webauthn](button)
      button.form.querySelector('input[name="credential"]').value = JSON.stringify(credential)
      button.form.submit()
    } catch (problem) {
      button.disabled = false
      if (error) {
        const reason = problem && problem.message ? problem.message : String(problem)
        let text = interpolate(gettext('No passkey was used: %(reason)s'), { reason }, true)
        if (problem && problem.name === 'SecurityError' && /^[\d.]+$|^\[/.test(window.location.hostname)) {
          // Browsers bind passkeys to a site's name and refuse them on an IP address.
          text += ' ' + interpolate(gettext(
            "Passkeys need the site's name in the address, not an IP address (on this computer: %(address)s)."
          ), { address: 'http://localhost:' + window.location.port + '/' }, true)
        }
        error.textContent = text
        error.hidden = false
      }
    }
  })
})()
